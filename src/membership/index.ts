// Public face of src/membership: filled in by its own issue.
export {};
