//! What a case's timeline records: the [`Step`] taken and the kind of [`Actor`] that took it. Both are
//! stored and served under their snake_case names.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use super::{people::Role, workflow::Action};

/// One step in a case's timeline: its report, a workflow action, or a step that keeps its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The case was reported (opened).
    Report,
    /// A workflow action moved the case.
    Action(Action),
    /// Departments were called to the case (吹哨).
    Whistle,
    /// A called department reported in (报到).
    ReportIn,
    /// A called department did not report in by its due time.
    WhistleMissed,
    /// Someone acknowledged the case and owns it.
    Acknowledge,
    /// The owner handed the case to someone else.
    HandOver,
    /// Nobody acknowledged the case in time: a step of the escalation timetable.
    Escalate,
    /// A receiver was reminded of the still-open case.
    Remind,
    /// The vehicle's plate was read, or read better than before.
    PlateRead,
    /// The plate text and its crop were erased (retention).
    PlateErased,
    /// The camera sees the object left gone (its place matches the old background again).
    ClearedSeen,
}

impl Step {
    /// The steps that are not workflow actions.
    const OTHERS: [Self; 11] = [
        Self::Report,
        Self::Whistle,
        Self::ReportIn,
        Self::WhistleMissed,
        Self::Acknowledge,
        Self::HandOver,
        Self::Escalate,
        Self::Remind,
        Self::PlateRead,
        Self::PlateErased,
        Self::ClearedSeen,
    ];

    /// The snake_case name used in the database and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::Action(action) => action.as_str(),
            Self::Whistle => "whistle",
            Self::ReportIn => "report_in",
            Self::WhistleMissed => "whistle_missed",
            Self::Acknowledge => "acknowledge",
            Self::HandOver => "hand_over",
            Self::Escalate => "escalate",
            Self::Remind => "remind",
            Self::PlateRead => "plate_read",
            Self::PlateErased => "plate_erased",
            Self::ClearedSeen => "cleared_seen",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::OTHERS
            .into_iter()
            .find(|step| step.as_str() == name)
            .or_else(|| Action::ALL.into_iter().find(|action| action.as_str() == name).map(Self::Action))
    }
}

/// Who takes a step: a person in a role, the service itself, or the source that reported the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A token holder in its role.
    Person(Role),
    /// The service: escalation, reminders.
    System,
    /// A camera's rule reported the case.
    Camera,
    /// A sensor's rule reported the case.
    Sensor,
    /// A citizen reported the case (Open311).
    Citizen,
}

impl Actor {
    /// The sources that report cases, and the service.
    const OTHERS: [Self; 4] = [Self::System, Self::Camera, Self::Sensor, Self::Citizen];

    /// The snake_case name used in the database and the API (a person's role name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Person(role) => role.as_str(),
            Self::System => "system",
            Self::Camera => "camera",
            Self::Sensor => "sensor",
            Self::Citizen => "citizen",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::OTHERS
            .into_iter()
            .find(|actor| actor.as_str() == name)
            .or_else(|| Role::ALL.into_iter().find(|role| role.as_str() == name).map(Self::Person))
    }
}

macro_rules! serde_as_str {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                Self::parse(&name)
                    .ok_or_else(|| D::Error::custom(format!("'{name}' is not a known {}", stringify!($ty))))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

serde_as_str!(Step, Actor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_and_actor_reads_back_from_its_name() {
        let steps = Step::OTHERS.into_iter().chain(Action::ALL.into_iter().map(Step::Action));
        for step in steps {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        for actor in Actor::OTHERS.into_iter().chain(Role::ALL.into_iter().map(Actor::Person)) {
            assert_eq!(Actor::parse(actor.as_str()), Some(actor));
        }
        assert_eq!(Step::parse("teleport"), None);
        assert_eq!(serde_json::to_string(&Step::Action(Action::ReportHandled)).unwrap(), "\"report_handled\"");
        assert_eq!(serde_json::from_str::<Actor>("\"handler\"").unwrap(), Actor::Person(Role::Handler));
        assert!(serde_json::from_str::<Step>("\"teleport\"").unwrap_err().to_string().contains("'teleport'"));
    }
}
