//! The `uniffi-bindgen` of this workspace's uniffi version: generates the Kotlin, Swift and
//! Python bindings from the built library (`ops/bindings.sh`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
