//! Helpers shared by the test binaries.

/// Fails the calling test unless it runs inside the test guest.
///
/// Kernel tests need objects the build machines lack (udmabuf, dma-heaps,
/// vgem, a KMS device with syncobj). `cargo test` routes every `kernel_*`
/// binary through `tools/cargo-runner`, which boots the guest with
/// `tools/vmrun`; running such a binary any other way is a setup error and
/// must fail loudly rather than skip.
pub(crate) fn require_guest() {
    assert_eq!(
        std::env::var("DMABRIDGE_GUEST").as_deref(),
        Ok("1"),
        "kernel tests run inside the test guest: run them with `cargo test` \
         (tools/cargo-runner boots tools/vmrun), after tools/setup"
    );
    assert!(
        std::path::Path::new("/dev/udmabuf").exists(),
        "the test guest has no /dev/udmabuf: the guest kernel is wrong (tools/guest-build)"
    );
}
