//! Arguments of the mutualisation commands (SPEC §8), extending `../shared/CLI.md`:
//! `rules list|add|remove|trust`, `profile set`, `mutual settings`.

use clap::Subcommand;

/// `rules …` (administrators).
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Rules with the accounts that match them now: `[{id, context, grant, rule, matches}]`.
    List,
    /// Add a rule on a category or course.
    Add {
        /// `category:ID` or `course:ID`.
        #[arg(long)]
        context: String,
        /// `consult` or `deploy`.
        #[arg(long)]
        grant: String,
        /// e.g. `establishment_type = lycee and discipline in [maths, physics]`.
        rule: String,
    },
    /// Remove a rule.
    Remove {
        /// The rule's id.
        id: i64,
    },
    /// Set the profile fields trusted from a peer's users (comma list; "" for none).
    Trust {
        /// The peer (id or unique name).
        peer: String,
        /// Field keys, comma separated.
        fields: String,
    },
}

/// `profile …`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Set profile values of a local account (admins: any field; users: their own user-editable ones).
    Set {
        /// The local username.
        username: String,
        /// `KEY=VALUE` (an empty value clears it).
        #[arg(required = true)]
        values: Vec<String>,
    },
}

/// `mutual …`
#[derive(Debug, Subcommand)]
pub enum MutualCommand {
    /// Show or change the mutualisation settings.
    Settings {
        /// The profile field holding a user's assigned category idnumber.
        #[arg(long)]
        assigned_field: Option<String>,
        /// Purge roaming accounts not seen for this many days.
        #[arg(long)]
        roaming_days: Option<i64>,
    },
}
