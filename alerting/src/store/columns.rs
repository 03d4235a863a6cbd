//! Domain enums kept in TEXT columns under their snake_case names, on SQLite and PostgreSQL alike: a
//! value read back that the enum does not know is a decode error naming it, never a silent default.
//!
//! Written by hand rather than with `#[derive(sqlx::Type)]`: for PostgreSQL that derive maps an enum
//! to a database ENUM type of its name, not to TEXT (launchbadge/sqlx#3630), and both schemas keep
//! plain TEXT columns.

use sqlx::{Database, Decode, Encode, Type, encode::IsNull, error::BoxDynError};

use crate::{
    cases::{
        taxonomy::Urgency,
        timeline::{Actor, Step},
        workflow::Status,
    },
    rules::Category,
};

/// Implements `sqlx::Type`, `Encode` and `Decode` over the type's `as_str` and `parse`.
macro_rules! text_column {
    ($($ty:ty),*) => {$(
        impl<DB: Database> Type<DB> for $ty
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(&self, buf: &mut <DB as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let name = <&'r str as Decode<'r, DB>>::decode(value)?;
                <$ty>::parse(name).ok_or_else(|| format!("'{name}' is not a known {}", stringify!($ty)).into())
            }
        }
    )*};
}

text_column!(Status, Category, Urgency, Step, Actor);
