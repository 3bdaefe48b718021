//! The statuses and kinds stored as text columns, as Rust enums: each
//! reads and writes the same lowercase word the column holds (and the API
//! shows), and an unknown word in the database is [`StoreError::Corrupt`]
//! (inside the column's decode error when a `sqlx::FromRow` field reads it).

use super::StoreError;

/// Declares an enum stored as one of a fixed set of words.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The word stored in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Reads the stored word.
            ///
            /// # Errors
            ///
            /// [`StoreError::Corrupt`] for any other word.
            pub fn parse(text: &str) -> Result<$name, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        other
                    ))),
                }
            }
        }

        // A `sqlx::FromRow` field of this type reads the stored word; an
        // unknown word fails the row with a decode error that names the
        // column and carries `StoreError::Corrupt`.
        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }

            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<$name, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                Ok($name::parse(&text)?)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        // In the API's OpenAPI document: a string, one of the words.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_enum!(
    /// What kind of app a version is: which entry points its component
    /// exports (`kind` in `miniapp.toml`).
    AppKind {
        /// Exports the chat-event handler (world `bot`).
        Bot = "bot",
        /// Serves an HTTP UI (`wasi:http/incoming-handler`, world `web-app`).
        WebApp = "web-app",
        /// Both (world `app`).
        App = "app",
    }
);

impl AppKind {
    /// Whether it exports the chat-event handler.
    pub fn is_bot(self) -> bool {
        matches!(self, AppKind::Bot | AppKind::App)
    }

    /// Whether it serves HTTP.
    pub fn is_web(self) -> bool {
        matches!(self, AppKind::WebApp | AppKind::App)
    }
}

impl<'de> serde::Deserialize<'de> for AppKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AppKind, D::Error> {
        let word = String::deserialize(d)?;
        AppKind::parse(&word).map_err(|_| serde::de::Error::unknown_variant(&word, &["bot", "web-app", "app"]))
    }
}

text_enum!(
    /// Whether an app runs.
    AppStatus {
        /// Its approved version runs.
        Active = "active",
        /// An operator stopped it.
        Suspended = "suspended",
    }
);

text_enum!(
    /// Where a version is in review.
    VersionStatus {
        /// Waiting for an operator.
        Pending = "pending",
        /// Approved (with grants).
        Approved = "approved",
        /// Rejected, with a reason.
        Rejected = "rejected",
    }
);

text_enum!(
    /// Where a version's compile is.
    CompileStatus {
        /// Queued or running.
        Compiling = "compiling",
        /// Done: it can be approved.
        Compiled = "compiled",
        /// The compiler refused it (the version was rejected).
        Failed = "failed",
    }
);

text_enum!(
    /// Where an invoice is.
    InvoiceStatus {
        /// Waiting to be paid.
        Open = "open",
        /// Paid.
        Paid = "paid",
        /// Cancelled by its app.
        Cancelled = "cancelled",
        /// Past its expiry unpaid (shown, not stored).
        Expired = "expired",
    }
);

text_enum!(
    /// Where a signature request is.
    SignatureStatus {
        /// Waiting for the user.
        Pending = "pending",
        /// Signed.
        Signed = "signed",
        /// Declined.
        Declined = "declined",
    }
);

text_enum!(
    /// Where a job of the queue is.
    JobStatus {
        /// Waiting to be claimed (due now or at its `run_at`).
        Queued = "queued",
        /// Claimed by a node, under a lease.
        Running = "running",
        /// Completed (kept an hour).
        Done = "done",
        /// Parked after its last attempt failed.
        Dead = "dead",
    }
);

text_enum!(
    /// Why a member reported a message or an app (Telegram's reasons).
    ReportReason {
        /// Unsolicited or repeated content.
        Spam = "spam",
        /// Violence or threats.
        Violence = "violence",
        /// Pornography.
        Pornography = "pornography",
        /// Child abuse.
        ChildAbuse = "child_abuse",
        /// Copyright infringement.
        Copyright = "copyright",
        /// Illegal drugs.
        IllegalDrugs = "illegal_drugs",
        /// Someone's personal details.
        PersonalDetails = "personal_details",
        /// Fraud or scams.
        Fraud = "fraud",
        /// Anything else (the note says what).
        Other = "other",
    }
);

text_enum!(
    /// Where a report stands.
    ReportStatus {
        /// Waiting for the operator.
        Open = "open",
        /// The operator closed it without acting on the target.
        Dismissed = "dismissed",
        /// The operator deleted the message or suspended the app.
        Actioned = "actioned",
    }
);

text_enum!(
    /// What a report is about.
    ReportTarget {
        /// A message in a chat.
        Message = "message",
        /// A mini-app.
        App = "app",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_and_unknown_words_are_corrupt() {
        for s in [
            InvoiceStatus::Open,
            InvoiceStatus::Paid,
            InvoiceStatus::Cancelled,
            InvoiceStatus::Expired,
        ] {
            assert_eq!(InvoiceStatus::parse(s.as_str()).expect("parses"), s);
        }
        assert_eq!(serde_json::to_value(VersionStatus::Approved).expect("json"), "approved");
        assert!(matches!(AppStatus::parse("deleted"), Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn a_row_field_reads_its_word_and_an_unknown_word_is_an_error() {
        #[derive(Debug, sqlx::FromRow)]
        struct Row {
            status: InvoiceStatus,
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::store::Db::open_sqlite(dir.path()).await.expect("db");
        let row: Row = sqlx::query_as("SELECT 'paid' AS status")
            .fetch_one(db.pool())
            .await
            .expect("a known word reads");
        assert_eq!(row.status, InvoiceStatus::Paid);
        let err = sqlx::query_as::<_, Row>("SELECT 'owed' AS status")
            .fetch_one(db.pool())
            .await
            .expect_err("an unknown word is refused");
        let err = StoreError::from(err).to_string();
        assert!(err.contains(r#"unknown InvoiceStatus "owed""#), "{err}");
    }
}
