use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

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
    /// Cases that went past their deadline and were put under supervision.
    pub cases_supervised_total: IntCounterVec,
    /// Violations not filed because their place's case closed less than the cooldown ago.
    pub violations_cooling_down_total: IntCounterVec,
    /// Relayed violations delivered again after they were filed (nothing filed twice).
    pub violations_refiled_total: IntCounterVec,
    /// Escalation steps taken on unacknowledged cases, by step.
    pub cases_escalated_total: IntCounterVec,
    /// Departments that did not report in to a whistle in time, by department.
    pub whistle_report_ins_missed_total: IntCounterVec,
    /// Notification attempts by receiver and outcome (`delivered`, `failed`, `dead`).
    pub deliveries_total: IntCounterVec,
    /// Violations parked because they could not be filed (kept, and filed again until it works).
    pub violations_parked_total: IntCounterVec,
    /// Violations parked now.
    pub violations_parked: IntGauge,
    /// Violations that could neither be filed nor parked (their frames could not be encoded).
    pub violations_lost_total: IntCounterVec,
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
            cases_supervised_total: counter("sharpeyes_cases_supervised_total", "Overdue cases put under supervision")?,
            cases_escalated_total: IntCounterVec::new(
                Opts::new("sharpeyes_cases_escalated_total", "Escalation steps taken on cases nobody acknowledged"),
                &["step"],
            )?,
            violations_cooling_down_total: counter(
                "sharpeyes_violations_cooling_down_total",
                "Violations at a place whose case closed less than the cooldown ago",
            )?,
            violations_refiled_total: counter(
                "sharpeyes_violations_refiled_total",
                "Relayed violations delivered again after they were filed (filed once)",
            )?,
            whistle_report_ins_missed_total: IntCounterVec::new(
                Opts::new(
                    "sharpeyes_whistle_report_ins_missed_total",
                    "Whistle calls not reported in by their due time",
                ),
                &["department"],
            )?,
            deliveries_total: IntCounterVec::new(
                Opts::new("sharpeyes_deliveries_total", "Notification attempts by receiver and outcome"),
                &["receiver", "outcome"],
            )?,
            violations_parked_total: counter(
                "sharpeyes_violations_parked_total",
                "Violations parked because they could not be filed (filed again until it works)",
            )?,
            violations_parked: IntGauge::new("sharpeyes_violations_parked", "Violations parked now")?,
            violations_lost_total: counter(
                "sharpeyes_violations_lost_total",
                "Violations that could neither be filed nor parked",
            )?,
        };
        for collector in [
            &metrics.violations_total,
            &metrics.cases_opened_total,
            &metrics.case_objects_added_total,
            &metrics.case_errors_total,
            &metrics.cases_supervised_total,
            &metrics.cases_escalated_total,
            &metrics.violations_cooling_down_total,
            &metrics.violations_refiled_total,
            &metrics.whistle_report_ins_missed_total,
            &metrics.deliveries_total,
            &metrics.violations_parked_total,
            &metrics.violations_lost_total,
        ] {
            registry.register(Box::new(collector.clone()))?;
        }
        registry.register(Box::new(metrics.violations_parked.clone()))?;
        Ok(metrics)
    }
}

/// Operators' decisions on camera cases, as counters.
#[derive(Clone)]
pub struct QualityMetrics {
    /// Camera cases verified, by camera, zone and category.
    pub verified_total: IntCounterVec,
    /// Camera cases voided, by camera, zone, category and reason.
    pub voided_total: IntCounterVec,
}

impl QualityMetrics {
    /// Creates the counters and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            verified_total: IntCounterVec::new(
                Opts::new("sharpeyes_cases_verified_total", "Camera cases an operator verified"),
                &["camera", "zone", "category"],
            )?,
            voided_total: IntCounterVec::new(
                Opts::new("sharpeyes_cases_voided_total", "Camera cases an operator voided, by reason"),
                &["camera", "zone", "category", "reason"],
            )?,
        };
        registry.register(Box::new(metrics.verified_total.clone()))?;
        registry.register(Box::new(metrics.voided_total.clone()))?;
        Ok(metrics)
    }
}
