//! Reading an uploaded component without running it: is it a valid
//! component, what does it really import, what does it export.

use wasmtime::wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// What an upload contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Top-level import names, e.g. `miniapp:platform/storage@0.1.0`.
    pub imports: Vec<String>,
    /// Top-level export names.
    pub exports: Vec<String>,
}

/// Why an upload is not a usable component.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InspectError {
    /// A core wasm module, not a component.
    #[error("this is a core WebAssembly module, not a component; build for wasm32-wasip2")]
    CoreModule,
    /// Not WebAssembly at all.
    #[error("not a WebAssembly component")]
    NotWasm,
    /// Malformed or invalid.
    #[error("invalid component: {0}")]
    Invalid(String),
}

/// Validates `bytes` as a component and lists its top-level imports and exports.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(InspectError::NotWasm);
    }
    if !Parser::is_component(bytes) {
        return Err(InspectError::CoreModule);
    }
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .map_err(|e| InspectError::Invalid(e.to_string()))?;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| InspectError::Invalid(e.to_string()))? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| InspectError::Invalid(e.to_string()))?;
                    imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| InspectError::Invalid(e.to_string()))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(Inspection { imports, exports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_random_bytes_core_modules_and_truncated_components() {
        assert_eq!(inspect(b"hello world"), Err(InspectError::NotWasm));
        assert_eq!(inspect(b"\0asm\x01\0\0\0"), Err(InspectError::CoreModule));
        assert!(matches!(
            inspect(b"\0asm\x0d\0\x01\0\x07\xff"),
            Err(InspectError::Invalid(_))
        ));
    }
}
