// getPeerCred(fd) -> { pid, uid, gid }: the kernel's record of who connected
// to a Unix socket (SO_PEERCRED), which Node exposes no API for. The Workload
// API server attests callers with it, as SPIRE's peertracker does.
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error((env), NULL, "peercred: " #call);   \
      return NULL;                                         \
    }                                                      \
  } while (0)

static napi_value set_u32(napi_env env, napi_value obj, const char* key, uint32_t v) {
  napi_value n;
  CHECK(env, napi_create_uint32(env, v, &n));
  CHECK(env, napi_set_named_property(env, obj, key, n));
  return obj;
}

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "getPeerCred: fd must be a non-negative integer");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    // The errno name as the code lets callers tell EBADF from ENOTSOCK.
    int err = errno;
    napi_throw_error(env, err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : "EPEERCRED", strerror(err));
    return NULL;
  }
  napi_value out;
  CHECK(env, napi_create_object(env, &out));
  if (!set_u32(env, out, "pid", (uint32_t)cred.pid) || !set_u32(env, out, "uid", cred.uid) ||
      !set_u32(env, out, "gid", cred.gid)) {
    return NULL;
  }
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(env, napi_create_function(env, "getPeerCred", NAPI_AUTO_LENGTH, get_peer_cred, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "getPeerCred", fn));
  return exports;
}
