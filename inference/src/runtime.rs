//! ONNX Runtime: the shared library (loaded once per process from `ORT_DYLIB_PATH`) and sessions
//! checked against their manifest.

use std::sync::Mutex;

use ort::{
    environment::Environment,
    session::{Session, builder::GraphOptimizationLevel},
    value::ValueType,
};
use tracing::info;

use crate::{Error, Manifest, Result, family};

/// Environment variable naming the ONNX Runtime shared library (`libonnxruntime.so.*`).
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Threading of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionThreads {
    /// Threads used inside one operator.
    pub intra: usize,
    /// Threads running independent operators in parallel.
    pub inter: usize,
}

impl Default for SessionThreads {
    fn default() -> Self {
        Self { intra: 1, inter: 1 }
    }
}

/// The process's ONNX Runtime environment, loading the library on first use.
///
/// ONNX Runtime is process-global by nature (one dynamic library, one environment), hence the one
/// static here.
pub fn environment() -> Result<Environment> {
    static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);
    let mut slot = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    if let Some(environment) = slot.as_ref() {
        return Ok(environment.clone());
    }
    let path = std::env::var_os(DYLIB_ENV).ok_or_else(|| {
        Error::Runtime(format!(
            "{DYLIB_ENV} is not set; run scripts/setup.sh and source .env.sh"
        ))
    })?;
    let environment = ort::init_from(&path)
        .map_err(|err| Error::Runtime(format!("{}: {err}", path.to_string_lossy())))?
        .with_name("sharpeyes")
        .build()
        .map_err(|err| Error::Runtime(err.to_string()))?;
    info!(library = %path.to_string_lossy(), "ONNX Runtime loaded");
    *slot = Some(environment.clone());
    Ok(environment)
}

/// Opens the manifest's model and checks that its input and output shapes match the manifest.
pub fn load_session(manifest: &Manifest, threads: SessionThreads) -> Result<Session> {
    let environment = environment()?;
    let model = manifest.name.clone();
    let ort_error = |source: ort::Error| Error::Ort {
        model: model.clone(),
        source,
    };
    let session = Session::builder(&environment)
        .map_err(ort_error)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .and_then(|b| b.with_intra_threads(threads.intra))
        .and_then(|b| b.with_inter_threads(threads.inter))
        .map_err(|err| ort_error(ort::Error::from(err)))?
        .commit_from_file(manifest.model_path())
        .map_err(ort_error)?;
    check_shapes(manifest, &session)?;
    info!(model = %manifest.name, file = %manifest.model_path().display(), intra = threads.intra, inter = threads.inter, "model loaded");
    Ok(session)
}

fn tensor_shape(value: &ValueType) -> Vec<i64> {
    value
        .tensor_shape()
        .map(|shape| shape.to_vec())
        .unwrap_or_default()
}

/// Whether a model dimension (`-1` when dynamic) accepts `wanted`.
fn dim_accepts(dim: i64, wanted: i64) -> bool {
    dim < 0 || dim == wanted
}

fn check_shapes(manifest: &Manifest, session: &Session) -> Result<()> {
    let mismatch = |what: &str, expected: String, actual: &[i64]| Error::ShapeMismatch {
        model: manifest.name.clone(),
        what: what.into(),
        expected,
        actual: format!("{actual:?}"),
    };
    let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first()) else {
        return Err(mismatch(
            "inputs/outputs",
            "one input and one output".into(),
            &[],
        ));
    };
    let (width, height) = (
        i64::from(manifest.input.width),
        i64::from(manifest.input.height),
    );
    let input_shape = tensor_shape(input.dtype());
    let input_ok = input_shape.len() == 4
        && dim_accepts(input_shape[1], 3)
        && dim_accepts(input_shape[2], height)
        && dim_accepts(input_shape[3], width);
    if !input_ok {
        return Err(mismatch(
            &format!("input '{}'", input.name()),
            format!("[N, 3, {height}, {width}]"),
            &input_shape,
        ));
    }
    let classes = manifest.classes.len() as i64;
    let output_shape = tensor_shape(output.dtype());
    let (expected, output_ok) = match manifest.family {
        crate::Family::Yolox => {
            let rows = family::yolox::rows(width as usize, height as usize) as i64;
            let ok = output_shape.len() == 3
                && dim_accepts(output_shape[1], rows)
                && dim_accepts(output_shape[2], 5 + classes);
            (
                format!("[N, {rows}, {}] (yolox, {classes} classes)", 5 + classes),
                ok,
            )
        }
    };
    if !output_ok {
        return Err(mismatch(
            &format!("output '{}'", output.name()),
            expected,
            &output_shape,
        ));
    }
    Ok(())
}
