use prometheus::{IntCounterVec, Opts, Registry};

/// Metrics of the rules and the case engine, by category (a bounded label).
#[derive(Clone, Debug)]
pub struct AlertingMetrics {
    /// Violations confirmed by the rules.
    pub violations_total: IntCounterVec,
    /// Cases opened.
    pub cases_opened_total: IntCounterVec,
    /// Objects (vehicles, litter) added to an already open case.
    pub case_objects_added_total: IntCounterVec,
    /// Violations the case engine failed to store (logged with the error).
    pub case_errors_total: IntCounterVec,
}

impl AlertingMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), &["category"]);
        let metrics = Self {
            violations_total: counter("sharpeyes_violations_total", "Violations confirmed by the rules")?,
            cases_opened_total: counter("sharpeyes_cases_opened_total", "Cases opened")?,
            case_objects_added_total: counter(
                "sharpeyes_case_objects_added_total",
                "Objects added to an already open case",
            )?,
            case_errors_total: counter("sharpeyes_case_errors_total", "Violations that failed to be stored")?,
        };
        for collector in [
            &metrics.violations_total,
            &metrics.cases_opened_total,
            &metrics.case_objects_added_total,
            &metrics.case_errors_total,
        ] {
            registry.register(Box::new(collector.clone()))?;
        }
        Ok(metrics)
    }
}
