//! Generates the gRPC code for `proto/withus/v1/*.proto` with tonic-prost-build, and the
//! descriptor set the reflection service serves. `protoc` comes from the protoc-bin-vendored
//! crate unless `PROTOC` is already set, so a fresh machine needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // Build scripts are single-threaded: nothing else reads the environment meanwhile.
        std::env::set_var("PROTOC", protoc);
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("withus_descriptor.bin"))
        .compile_protos(
            &[
                "proto/withus/v1/common.proto",
                "proto/withus/v1/vocabulary.proto",
                "proto/withus/v1/record.proto",
                "proto/withus/v1/admin.proto",
                "proto/withus/v1/audit.proto",
                "proto/withus/v1/care.proto",
                "proto/withus/v1/retention.proto",
            ],
            &["proto"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
