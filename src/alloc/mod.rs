//! alloc (being built)
