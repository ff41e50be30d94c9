//! `dmabridge probe --json` as a process: the report parses and carries the
//! device's capabilities and importable table.

use std::process::Command;

use serde_json::Value;

#[test]
fn probe_json_reports_lavapipe_and_its_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["probe", "--json"])
        .output()
        .expect("running dmabridge probe --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("probe --json prints JSON");
    assert_eq!(report["device"]["type"], "cpu");
    assert_eq!(report["device"]["driver_name"], "llvmpipe");
    assert_eq!(report["capabilities"]["external_memory_dma_buf"], true);
    let rows = report["importable"]
        .as_array()
        .expect("an importable array");
    let argb = rows
        .iter()
        .find(|r| r["fourcc"] == "AR24" && r["modifier_name"] == "LINEAR")
        .expect("ARGB8888 LINEAR is importable");
    assert_eq!(argb["modifier"], "0x0000000000000000");
    assert_eq!(argb["vk_format"], "B8G8R8A8_UNORM");
    assert_eq!(argb["planes"], 1);
    assert!(matches!(argb["path"].as_str(), Some("buffer" | "image")));
    let usage = argb["usage"].as_array().expect("a usage array");
    assert!(usage.contains(&Value::from("sampled")));
}

#[test]
fn probe_refuses_a_node_no_vulkan_device_drives() {
    let out = Command::new(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["probe", "--device", "/dev/null"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("running dmabridge probe --device /dev/null");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no Vulkan device drives /dev/null (1:3)"),
        "{stderr}"
    );
}
