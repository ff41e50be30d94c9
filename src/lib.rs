//! dmabridge: compositor-side dma-buf sharing for Wayland, Vulkan and DRM.
//!
//! # Layers
//!
//! Dependencies point one way, from the top of this list to the bottom:
//!
//! ```text
//! render   a smithay renderer on the copy engine: each draw of a frame is a
//!   │      copy job extended with blending, a frame is one submission
//!   │
//! copy     the geometry of a copy: validated rectangles, wl_output transforms,
//!   │      the destination-to-source map a shader takes, and a CPU reference;
//!   │      the copy job that carries a plan out on the GPU (a compute shader
//!   │      over storage buffers, `shaders/copy.comp`, or buffer transfers
//!   │      for a copy that leaves bytes unchanged), dma-bufs included
//!   │
//! vulkan   the Vulkan device that imports dma-bufs: capabilities (SYNC_FD,
//!   │      modifiers), the importable (fourcc, modifier) table, fourcc↔VkFormat;
//!   │      buffers, compute pipelines, one-shot command buffers and fences;
//!   │      dma-bufs imported as buffers, SYNC_FD semaphores
//!   │
//! alloc    buffer producers for clients and tests: udmabuf, dma-heap, vgem, GBM
//!   │
//! dmabuf   a client's dma-buf: planes, validation (zwp_linux_buffer_params_v1 rules),
//!   │      the ownership state machine, and the CPU-access guard
//!   │
//! sync     kernel fences: sync_file export/import on a dma-buf, merge, wait,
//!          and a calloop event source that fires when a fence signals
//! ```
//!
//! No module here imports Wayland types: the protocol layer maps the typed
//! errors of these modules onto the protocol errors the specifications name.
//!
//! # Invariants
//!
//! * **One owner at a time.** Every [`dmabuf::Dmabuf`] tracks the ownership
//!   state machine of dma-buf heaps (CPU-owned, device-owned, un-owned × the
//!   mapping states, five valid states). A transition outside that table is
//!   refused with an error that names the state and the operation.
//! * **CPU access is bracketed.** The only way to touch a dma-buf's bytes is a
//!   [`dmabuf::CpuAccess`] guard: creating it issues `DMA_BUF_IOCTL_SYNC`
//!   START, dropping it issues END, and the byte slices borrow from the guard.
//!   No sequence of calls can produce an END without its START; the one
//!   exception is [`dmabuf::probe`], which exists to show the kernel
//!   refusing such an END and touches no bytes.
//! * **Validated before use.** A [`dmabuf::Dmabuf`] only exists once its
//!   planes passed every check of `zwp_linux_buffer_params_v1`: every plane
//!   fits inside its fd, the fds are dma-bufs, the arithmetic does not
//!   overflow. Nothing downstream re-checks, and nothing downstream can be
//!   handed an unchecked buffer.
//! * **Copies are asked for whole.** A [`copy::CopyJob`] names the plan and
//!   both buffers at once; every plane is checked against its buffer before
//!   a command is recorded, and every GPU object a job uses is held until
//!   its fence signalled. An imported dma-buf stays device-mapped until its
//!   last `VkBuffer` is destroyed.
//! * **A capture is a copy the client asks for.** Screen capture
//!   (`compositor/capture/`) checks the client's buffer against the
//!   session's constraints, copies into it with one copy job, and sends
//!   `ready` only after that job's fence signalled, watched on the event
//!   loop; a `wl_shm` destination receives only the rows the GPU wrote,
//!   through smithay's guarded mapping of the pool, by a writer thread
//!   that waits for the job off the loop.
//! * **The device reads a client's memory only where it cannot vanish.**
//!   Lavapipe's threads run outside the SIGBUS protection of smithay's
//!   reads of `wl_shm` pools, so a pool is imported for the device to read
//!   in place only from a memfd sealed against shrinking and as large as
//!   the pool (`vulkan/host.rs`); every other pool is copied by the CPU
//!   under that protection.
//! * **A client's copy is asked for whole.** dmabridge-buffer-copy-v1
//!   (`compositor/buffer_copy.rs`, bindings in [`protocols`]) takes both
//!   buffers in one request and the whole description before `submit`,
//!   which plans it: a copy that would read or write outside a buffer is a
//!   protocol error, never a job. From `submit` to `done` the buffers are
//!   the compositor's; `done` follows the job's fence and, for `wl_shm`,
//!   the write-back of the destination rectangle by capture's writer.
//! * **Fences are values.** A [`sync::SyncFile`] owns its fd; waiting never
//!   blocks an event loop (use [`sync::FenceSource`]).
//! * **`unsafe` lives in `sys` modules** (`dmabuf/sys.rs`, `sync/sys.rs`,
//!   `alloc/sys.rs`), in `render/shm.rs` and in `vulkan/`, each block with a `SAFETY:` comment
//!   (in `vulkan/`, naming the valid-usage rules met). The rest of the crate
//!   denies it.

pub mod alloc;
pub mod args;
pub mod compositor;
pub mod copy;
pub mod dmabuf;
pub mod protocols;
pub mod render;
pub mod sync;
pub mod testcard;
pub mod vulkan;
