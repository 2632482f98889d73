export { TcpListeners } from './tcp-listeners.js';
export { TcpProxy, type RemoteReach, type TcpProxyOptions } from './tcp-proxy.js';
export { splice, type ByteStream, type SpliceEnd } from './splice.js';
