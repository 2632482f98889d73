// Public face of src/failover: filled in by its own issue.
export {};
