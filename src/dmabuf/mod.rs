//! dmabuf (being built)
