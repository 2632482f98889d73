// Public face of src/identity: filled in by its own issue.
export {};
