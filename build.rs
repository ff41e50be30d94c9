//! Compiles the GLSL compute shaders in `shaders/` to SPIR-V with naga, into
//! `OUT_DIR`, where `include_bytes!` embeds them. naga is pure Rust: the
//! build needs no glslc or shaderc on the machine. naga's preprocessor has
//! no `#include`, so a line `#include "name"` is replaced here by the file
//! `shaders/name`.

use std::io::Write;
use std::path::{Path, PathBuf};

use naga::back::spv;
use naga::front::glsl;
use naga::valid::{Capabilities, ValidationFlags, Validator};

/// The shaders, each a compute shader with entry point `main`: the SPIR-V
/// file written, the GLSL source, and whether `PARTS` is defined (the
/// shader takes the rectangles it writes from its parameters,
/// `shaders/common.glsl`).
const SHADERS: [(&str, &str, bool); 3] = [
    ("copy.comp.spv", "copy.comp", true),
    ("turn.comp.spv", "turn.comp", false),
    ("turn-parts.comp.spv", "turn.comp", true),
];

/// What the shaders include.
const INCLUDED: [&str; 1] = ["common.glsl"];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    // Cargo reads a build script's directives from its stdout.
    let mut directives = std::io::stdout().lock();
    for name in INCLUDED {
        let path = manifest.join("shaders").join(name);
        writeln!(directives, "cargo::rerun-if-changed={}", path.display())
            .expect("writing to cargo");
    }
    for (spv, name, parts) in SHADERS {
        let path = manifest.join("shaders").join(name);
        writeln!(directives, "cargo::rerun-if-changed={}", path.display())
            .expect("writing to cargo");
        let words = compile(&path, parts);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let target = out.join(spv);
        std::fs::write(&target, bytes)
            .unwrap_or_else(|err| panic!("writing {}: {err}", target.display()));
    }
}

/// GLSL 450 compute shader → validated naga module → SPIR-V 1.0 words,
/// with `PARTS` defined where `parts` is true.
fn compile(path: &Path, parts: bool) -> Vec<u32> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
    };
    let source: String = read(path)
        .lines()
        .map(|line| {
            let included = line
                .strip_prefix("#include \"")
                .and_then(|rest| rest.strip_suffix('"'));
            match included {
                Some(name) if INCLUDED.contains(&name) => read(&path.with_file_name(name)),
                Some(name) => panic!("{}: {name} is not in INCLUDED", path.display()),
                None => format!("{line}\n"),
            }
        })
        .collect();
    let mut options = glsl::Options::from(naga::ShaderStage::Compute);
    if parts {
        options.defines.insert("PARTS".to_owned(), "1".to_owned());
    }
    let module = glsl::Frontend::default()
        .parse(&options, &source)
        .unwrap_or_else(|errors| {
            panic!(
                "{}",
                errors.emit_to_string_with_path(&source, &path.to_string_lossy())
            )
        });
    // Push constants ("immediates" in naga) are the only capability used.
    let info = Validator::new(ValidationFlags::all(), Capabilities::IMMEDIATES)
        .validate(&module)
        .unwrap_or_else(|err| {
            panic!(
                "{}",
                err.emit_to_string_with_path(&source, &path.to_string_lossy())
            )
        });
    let mut options = spv::Options {
        lang_version: (1, 0),
        // No debug names or coordinate-space adjustments (those are for
        // vertex shaders).
        flags: spv::WriterFlags::empty(),
        // With no binding map, each resource keeps the set and binding its
        // layout qualifier names.
        fake_missing_bindings: true,
        ..spv::Options::default()
    };
    // Defence in depth: the executor checks every plane against its buffer
    // before recording, and a storage access past the end of a buffer still
    // reads zero and writes nothing. The fast path (turn.comp) goes without:
    // src/copy/turn.rs checks every block it reads and writes against the
    // source rectangle and the clip before recording, and the checks cost
    // it about a third of its time on lavapipe (docs/PERFORMANCE.md).
    options.bounds_check_policies.buffer = if path.ends_with("turn.comp") {
        naga::proc::BoundsCheckPolicy::Unchecked
    } else {
        naga::proc::BoundsCheckPolicy::ReadZeroSkipWrite
    };
    let pipeline = spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".to_owned(),
    };
    spv::write_vec(&module, &info, &options, Some(&pipeline))
        .unwrap_or_else(|err| panic!("{}: writing SPIR-V: {err}", path.display()))
}
