//! The case workflow as an explicit state machine: the seven standard steps of the closed loop
//! (信息采集 `reported` → 案卷建立 `filed` or `voided` → 任务派遣 `dispatched` → 任务处理 `handling` →
//! 处理反馈 `feedback` → 核查结案 `closed`, or back to `handling` → 综合评价 `evaluated`), with the side
//! paths: returned to the dispatcher (回退), extension requested (延时), suspended (挂账) and supervised
//! when overdue (督办). [`Workflow::apply`] is the only way a case changes state; it refuses every action
//! the status or the role does not allow, naming why.

use serde::{Deserialize, Serialize};

use super::people::Role;

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reported by a camera, sensor or citizen; waits for an operator to verify it.
    Reported,
    /// Verified and filed; waits for dispatch.
    Filed,
    /// Not a real problem (a false alarm); final.
    Voided,
    /// Sent to a handling department.
    Dispatched,
    /// Accepted by the department and being handled.
    Handling,
    /// Reported handled; waits for an inspector.
    Feedback,
    /// Verified on site and closed.
    Closed,
    /// Closed and evaluated; final.
    Evaluated,
    /// Handed back to the dispatcher by the department (not theirs, wrong grid).
    Returned,
    /// Put on hold (挂账): cannot be handled now.
    Suspended,
}

impl std::fmt::Display for Status {
    /// The snake_case name, as stored and served.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Status {
    /// Every status.
    pub const ALL: [Self; 10] = [
        Self::Reported,
        Self::Filed,
        Self::Voided,
        Self::Dispatched,
        Self::Handling,
        Self::Feedback,
        Self::Closed,
        Self::Evaluated,
        Self::Returned,
        Self::Suspended,
    ];

    /// The snake_case name used in the API and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Filed => "filed",
            Self::Voided => "voided",
            Self::Dispatched => "dispatched",
            Self::Handling => "handling",
            Self::Feedback => "feedback",
            Self::Closed => "closed",
            Self::Evaluated => "evaluated",
            Self::Returned => "returned",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether nothing more can happen to the case.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Voided | Self::Evaluated)
    }

    /// Whether the case still needs work (for deadlines and supervision).
    pub const fn is_open(self) -> bool {
        !matches!(self, Self::Voided | Self::Closed | Self::Evaluated)
    }
}

/// What a person (or the deadline clock) does to a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Operator: the report is real; file it.
    Verify,
    /// Operator: a false alarm.
    Void,
    /// Dispatcher: send to the handling department.
    Dispatch,
    /// Handler: take the case on.
    Accept,
    /// Handler: hand it back to the dispatcher.
    Return,
    /// Handler: ask for more time.
    RequestExtension,
    /// Dispatcher: grant the extension asked for.
    GrantExtension,
    /// Dispatcher: refuse the extension asked for.
    RefuseExtension,
    /// Dispatcher: put the case on hold.
    Suspend,
    /// Dispatcher: take a suspended case up again (it is dispatched anew).
    Resume,
    /// Handler: the problem is dealt with.
    ReportHandled,
    /// Inspector: verified on site; close.
    Close,
    /// Inspector: not dealt with; back to handling.
    Reopen,
    /// Inspector: evaluate the closed case.
    Evaluate,
    /// The deadline clock (or an admin): the case is overdue and supervised from now on.
    Supervise,
}

/// The workflow state of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// Current status.
    pub status: Status,
    /// An extension was asked for and not yet answered.
    pub extension_requested: bool,
    /// The case went overdue and is supervised (督办); it stays so.
    pub supervised: bool,
}

/// Why an action was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The role may never take this action.
    #[error("a {role:?} may not {action:?} a case")]
    Role {
        /// The role that tried.
        role: Role,
        /// The action.
        action: Action,
    },
    /// The action does not apply to a case in this state.
    #[error("cannot {action:?} a case that is {status:?}")]
    Status {
        /// The action.
        action: Action,
        /// The case's status.
        status: Status,
    },
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 15] = [
        Self::Verify,
        Self::Void,
        Self::Dispatch,
        Self::Accept,
        Self::Return,
        Self::RequestExtension,
        Self::GrantExtension,
        Self::RefuseExtension,
        Self::Suspend,
        Self::Resume,
        Self::ReportHandled,
        Self::Close,
        Self::Reopen,
        Self::Evaluate,
        Self::Supervise,
    ];

    /// The snake_case name used in the API and the case's timeline.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Void => "void",
            Self::Dispatch => "dispatch",
            Self::Accept => "accept",
            Self::Return => "return",
            Self::RequestExtension => "request_extension",
            Self::GrantExtension => "grant_extension",
            Self::RefuseExtension => "refuse_extension",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::ReportHandled => "report_handled",
            Self::Close => "close",
            Self::Reopen => "reopen",
            Self::Evaluate => "evaluate",
            Self::Supervise => "supervise",
        }
    }

    /// The role whose work this action is (admins may take every action).
    pub const fn role(self) -> Role {
        match self {
            Self::Verify | Self::Void => Role::Operator,
            Self::Dispatch | Self::GrantExtension | Self::RefuseExtension | Self::Suspend | Self::Resume => {
                Role::Dispatcher
            }
            Self::Accept | Self::Return | Self::RequestExtension | Self::ReportHandled => Role::Handler,
            Self::Close | Self::Reopen | Self::Evaluate => Role::Inspector,
            Self::Supervise => Role::Admin,
        }
    }
}

impl Default for Workflow {
    fn default() -> Self {
        Self::new()
    }
}

impl Workflow {
    /// A case just reported.
    pub const fn new() -> Self {
        Self { status: Status::Reported, extension_requested: false, supervised: false }
    }

    /// The state after `role` takes `action`, or why not.
    pub fn apply(self, role: Role, action: Action) -> Result<Self, Refusal> {
        if role != Role::Admin && role != action.role() {
            return Err(Refusal::Role { role, action });
        }
        use Status::*;
        let refused = Err(Refusal::Status { action, status: self.status });
        let to = |status| Ok(Self { status, extension_requested: false, ..self });
        match (action, self.status) {
            (Action::Verify, Reported) => to(Filed),
            (Action::Void, Reported) => to(Voided),
            (Action::Dispatch, Filed | Returned) => to(Dispatched),
            (Action::Accept, Dispatched) => to(Handling),
            (Action::Return, Dispatched | Handling) => to(Returned),
            (Action::RequestExtension, Handling) if !self.extension_requested => {
                Ok(Self { extension_requested: true, ..self })
            }
            (Action::GrantExtension | Action::RefuseExtension, Handling) if self.extension_requested => {
                Ok(Self { extension_requested: false, ..self })
            }
            (Action::Suspend, Filed | Returned | Dispatched | Handling) => to(Suspended),
            (Action::Resume, Suspended) => to(Filed),
            (Action::ReportHandled, Handling) => to(Feedback),
            (Action::Close, Feedback) => to(Closed),
            (Action::Reopen, Feedback) => to(Handling),
            (Action::Evaluate, Closed) => to(Evaluated),
            (Action::Supervise, status) if status.is_open() && !self.supervised => {
                Ok(Self { supervised: true, ..self })
            }
            _ => refused,
        }
    }

    /// The actions `role` may take on the case now, in [`Action::ALL`]'s order.
    pub fn allowed(self, role: Role) -> Vec<Action> {
        Action::ALL.into_iter().filter(|&action| self.apply(role, action).is_ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ACTIONS: [Action; 15] = Action::ALL;
    const ROLES: [Role; 7] =
        [Role::Viewer, Role::Reporter, Role::Operator, Role::Dispatcher, Role::Handler, Role::Inspector, Role::Admin];

    /// The edges of the workflow as documented (DESIGN.md), written out apart from `apply`.
    fn documented_edge(from: Status, to: Status) -> bool {
        use Status::*;
        matches!(
            (from, to),
            (Reported, Filed | Voided)
                | (Filed | Returned, Dispatched)
                | (Dispatched, Handling)
                | (Dispatched | Handling, Returned)
                | (Filed | Returned | Dispatched | Handling, Suspended)
                | (Suspended, Filed)
                | (Handling, Feedback)
                | (Feedback, Closed | Handling)
                | (Closed, Evaluated)
        )
    }

    #[test]
    fn the_closed_loop_in_order() {
        let steps = [
            (Role::Operator, Action::Verify, Status::Filed),
            (Role::Dispatcher, Action::Dispatch, Status::Dispatched),
            (Role::Handler, Action::Accept, Status::Handling),
            (Role::Handler, Action::ReportHandled, Status::Feedback),
            (Role::Inspector, Action::Reopen, Status::Handling),
            (Role::Handler, Action::ReportHandled, Status::Feedback),
            (Role::Inspector, Action::Close, Status::Closed),
            (Role::Inspector, Action::Evaluate, Status::Evaluated),
        ];
        let mut case = Workflow::new();
        for (role, action, expected) in steps {
            case = case.apply(role, action).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(case.status, expected);
        }
        assert!(case.status.is_final());
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for action in ACTIONS {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
    }

    #[test]
    fn allowed_lists_exactly_what_apply_accepts() {
        let filed = Workflow { status: Status::Filed, ..Workflow::new() };
        assert_eq!(filed.allowed(Role::Dispatcher), [Action::Dispatch, Action::Suspend]);
        assert_eq!(filed.allowed(Role::Admin), [Action::Dispatch, Action::Suspend, Action::Supervise]);
        assert!(filed.allowed(Role::Viewer).is_empty());
        assert_eq!(Workflow::new().allowed(Role::Operator), [Action::Verify, Action::Void]);
    }

    #[test]
    fn refusals_name_the_role_or_the_status() {
        let case = Workflow::new();
        assert_eq!(
            case.apply(Role::Handler, Action::Verify),
            Err(Refusal::Role { role: Role::Handler, action: Action::Verify })
        );
        assert_eq!(
            case.apply(Role::Inspector, Action::Close),
            Err(Refusal::Status { action: Action::Close, status: Status::Reported })
        );
        assert_eq!(case.apply(Role::Viewer, Action::Close).unwrap_err().to_string(), "a Viewer may not Close a case");
    }

    /// One attempt of a generated run: either one of the steps the case allows now (any role's), chosen
    /// by index, or any role trying any action.
    #[derive(Clone, Copy, Debug)]
    enum Attempt {
        Allowed(usize),
        Any(usize, usize),
    }

    fn attempts() -> impl Strategy<Value = Vec<Attempt>> {
        let attempt = prop_oneof![
            2 => any::<usize>().prop_map(Attempt::Allowed),
            1 => (0..ROLES.len(), 0..ACTIONS.len()).prop_map(|(role, action)| Attempt::Any(role, action)),
        ];
        prop::collection::vec(attempt, 0..60)
    }

    /// Any sequence of attempts by any roles: every accepted step follows a documented edge (or changes
    /// only the flags), by the action's own role or an admin; nothing leaves a final status; an
    /// extension is pending only while handling; supervision is never lifted. The runs are counted: every
    /// role and every action must be drawn, and every action accepted, in some run — a generator that
    /// never reaches a case would make the properties hold vacuously.
    #[test]
    fn no_illegal_transition_is_ever_accepted() {
        use std::{collections::HashSet, sync::Mutex};

        use proptest::test_runner::{Config, TestRunner};

        let drawn = Mutex::new((HashSet::new(), HashSet::new()));
        let accepted = Mutex::new(HashSet::new());
        let mut runner = TestRunner::new(Config { cases: 512, ..Config::default() });
        runner
            .run(&attempts(), |attempts| {
                let mut case = Workflow::new();
                for attempt in attempts {
                    let (role, action) = match attempt {
                        Attempt::Any(role, action) => (ROLES[role], ACTIONS[action]),
                        Attempt::Allowed(index) => {
                            let allowed: Vec<(Role, Action)> = ROLES
                                .into_iter()
                                .flat_map(|role| case.allowed(role).into_iter().map(move |action| (role, action)))
                                .collect();
                            if allowed.is_empty() {
                                continue;
                            }
                            allowed[index % allowed.len()]
                        }
                    };
                    let mut seen = drawn.lock().unwrap();
                    seen.0.insert(role);
                    seen.1.insert(action);
                    drop(seen);
                    match case.apply(role, action) {
                        Ok(next) => {
                            accepted.lock().unwrap().insert(action);
                            prop_assert!(role == Role::Admin || role == action.role());
                            prop_assert!(!case.status.is_final(), "{case:?} is final but accepted {action:?}");
                            if next.status != case.status {
                                prop_assert!(
                                    documented_edge(case.status, next.status),
                                    "{case:?} -> {next:?} by {action:?}"
                                );
                            } else {
                                prop_assert!(matches!(
                                    action,
                                    Action::RequestExtension
                                        | Action::GrantExtension
                                        | Action::RefuseExtension
                                        | Action::Supervise
                                ));
                            }
                            prop_assert!(!next.extension_requested || next.status == Status::Handling);
                            prop_assert!(next.supervised || !case.supervised);
                            case = next;
                        }
                        Err(Refusal::Role { role: refused, .. }) => {
                            prop_assert!(refused != Role::Admin && refused != action.role());
                        }
                        Err(Refusal::Status { status, .. }) => prop_assert_eq!(status, case.status),
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{failure}"));

        let (roles, actions) = drawn.into_inner().unwrap();
        let accepted = accepted.into_inner().unwrap();
        assert_eq!(
            roles.len(),
            ROLES.len(),
            "roles never drawn: {:?}",
            ROLES.iter().filter(|r| !roles.contains(r)).collect::<Vec<_>>()
        );
        assert_eq!(actions.len(), ACTIONS.len());
        let never: Vec<&Action> = ACTIONS.iter().filter(|action| !accepted.contains(action)).collect();
        assert!(never.is_empty(), "never accepted in any run: {never:?}");
    }
}
