//! ONNX Runtime: the shared library (loaded once per process from `ORT_DYLIB_PATH`), execution
//! providers with a CPU fallback, and sessions checked against their manifest.

use std::{path::Path, sync::Mutex};

use ort::{
    environment::Environment,
    ep::{self, ExecutionProvider, ExecutionProviderDispatch},
    session::{
        Session,
        builder::{GraphOptimizationLevel, SessionBuilder},
    },
    value::ValueType,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::{Error, Family, Manifest, Result, family};

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

/// Where a model runs. Anything but `cpu` needs an ONNX Runtime build with that provider (for CUDA and
/// TensorRT: the `onnxruntime-gpu` wheel); when it is missing the model runs on the CPU, with a warning.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT (falls back to CUDA inside ONNX Runtime for unsupported nodes).
    Tensorrt,
    /// Intel OpenVINO.
    Openvino,
}

impl Provider {
    /// The name used in configuration and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Tensorrt => "tensorrt",
            Self::Openvino => "openvino",
        }
    }
}

/// How a session is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threading.
    pub threads: SessionThreads,
    /// Execution provider asked for.
    pub provider: Provider,
}

/// A session and what its model's shapes allow.
pub struct LoadedSession {
    /// The ONNX Runtime session.
    pub session: Session,
    /// `None` when the batch dimension is dynamic, else the fixed batch size.
    pub fixed_batch: Option<usize>,
    /// The provider the session really runs on.
    pub provider: Provider,
}

/// The process's ONNX Runtime environment, loading the library on first use.
///
/// ONNX Runtime is process-global by nature (one dynamic library, one environment), hence the one
/// static here.
pub fn environment() -> Result<Environment> {
    static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(environment) = slot.as_ref() {
        return Ok(environment.clone());
    }
    let path = std::env::var_os(DYLIB_ENV)
        .ok_or_else(|| Error::Runtime(format!("{DYLIB_ENV} is not set; run scripts/setup.sh and source .env.sh")))?;
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
pub fn load_session(manifest: &Manifest, options: SessionOptions) -> Result<LoadedSession> {
    let path = manifest.model_path();
    let (session, provider) = open_session(&manifest.name, &path, options)?;
    let fixed_batch = check_shapes(manifest, &session)?;
    info!(
        model = %manifest.name, file = %path.display(), provider = provider.as_str(),
        intra = options.threads.intra, inter = options.threads.inter,
        batch = fixed_batch.map_or("dynamic".to_owned(), |b| b.to_string()), "model loaded"
    );
    Ok(LoadedSession { session, fixed_batch, provider })
}

/// Opens the ONNX file at `path` as model `model` (the name errors and logs use), on the provider asked
/// for or the CPU; its shapes are the caller's to check.
pub fn open_session(model: &str, path: &Path, options: SessionOptions) -> Result<(Session, Provider)> {
    if !path.is_file() {
        return Err(Error::ModelFile { model: model.to_owned(), path: path.into(), reason: "no such file".into() });
    }
    let environment = environment()?;
    let ort_error = |source: ort::Error| Error::Ort { model: model.to_owned(), source };
    // Builder errors carry the builder back; only the error itself is kept.
    let builder_error = |err: ort::Error<SessionBuilder>| ort_error(ort::Error::from(err));
    let builder = Session::builder(&environment).map_err(ort_error)?;
    let builder = builder.with_optimization_level(GraphOptimizationLevel::All).map_err(builder_error)?;
    let builder = builder.with_intra_threads(options.threads.intra).map_err(builder_error)?;
    let builder = builder.with_inter_threads(options.threads.inter).map_err(builder_error)?;
    let (mut builder, provider) = with_provider(builder, options.provider, model);
    let session = builder.commit_from_file(path).map_err(|source| Error::ModelFile {
        model: model.to_owned(),
        path: path.into(),
        reason: source.to_string(),
    })?;
    Ok((session, provider))
}

/// Registers the provider asked for, or says why the session stays on the CPU.
fn with_provider(builder: SessionBuilder, provider: Provider, model: &str) -> (SessionBuilder, Provider) {
    let (available, dispatch): (ort::Result<bool>, ExecutionProviderDispatch) = match provider {
        Provider::Cpu => return (builder, Provider::Cpu),
        Provider::Cuda => (ep::CUDA::is_available(), ep::CUDA::default().build()),
        Provider::Tensorrt => (ep::TensorRT::is_available(), ep::TensorRT::default().build()),
        Provider::Openvino => (ep::OpenVINO::is_available(), ep::OpenVINO::default().build()),
    };
    match available {
        Ok(true) => match builder.with_execution_providers([dispatch.error_on_failure()]) {
            Ok(builder) => (builder, provider),
            Err(err) => {
                warn!(model, provider = provider.as_str(), error = %err, "execution provider failed to start; running on CPU");
                (err.recover(), Provider::Cpu)
            }
        },
        Ok(false) => {
            warn!(
                model,
                provider = provider.as_str(),
                "this ONNX Runtime library has no such execution provider; running on CPU"
            );
            (builder, Provider::Cpu)
        }
        Err(err) => {
            warn!(model, provider = provider.as_str(), error = %err, "cannot query execution providers; running on CPU");
            (builder, Provider::Cpu)
        }
    }
}

fn tensor_shape(value: &ValueType) -> Vec<i64> {
    value.tensor_shape().map(|shape| shape.to_vec()).unwrap_or_default()
}

/// Whether a model dimension (`-1` when dynamic) accepts `wanted`.
fn dim_accepts(dim: i64, wanted: i64) -> bool {
    dim < 0 || dim == wanted
}

/// Checks the model against the manifest; returns the fixed batch size (`None` when dynamic).
fn check_shapes(manifest: &Manifest, session: &Session) -> Result<Option<usize>> {
    let mismatch = |what: &str, expected: String, actual: &[i64]| Error::ShapeMismatch {
        model: manifest.name.clone(),
        what: what.into(),
        expected,
        actual: format!("{actual:?}"),
    };
    let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first()) else {
        return Err(mismatch("inputs/outputs", "one input and one output".into(), &[]));
    };
    let (width, height) = (i64::from(manifest.input.width), i64::from(manifest.input.height));
    let input_shape = tensor_shape(input.dtype());
    let input_ok = input_shape.len() == 4
        && dim_accepts(input_shape[1], 3)
        && dim_accepts(input_shape[2], height)
        && dim_accepts(input_shape[3], width);
    if !input_ok {
        return Err(mismatch(&format!("input '{}'", input.name()), format!("[N, 3, {height}, {width}]"), &input_shape));
    }
    let classes = manifest.classes.len();
    let output_shape = tensor_shape(output.dtype());
    // Rows are only fixed by the input size for YOLOX; other families are checked on their values.
    let rows = match manifest.family {
        Family::Yolox => family::yolox::rows(width as usize, height as usize) as i64,
        _ => -1,
    };
    let [a, b] = family::item_shape(manifest.family, classes, 0).map(|d| d as i64);
    let expected_item = match manifest.family {
        Family::Yolov8 => [a, rows],
        _ => [rows, b],
    };
    let output_ok = output_shape.len() == 3
        && expected_item.iter().zip(&output_shape[1..]).all(|(&want, &dim)| want < 0 || dim_accepts(dim, want));
    if !output_ok {
        let shown: Vec<String> =
            expected_item.iter().map(|d| if *d < 0 { "N".into() } else { d.to_string() }).collect();
        return Err(mismatch(
            &format!("output '{}'", output.name()),
            format!("[B, {}] ({:?}, {classes} classes)", shown.join(", "), manifest.family),
            &output_shape,
        ));
    }
    Ok(usize::try_from(input_shape[0]).ok())
}
