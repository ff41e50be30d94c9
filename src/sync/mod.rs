//! sync (being built)
