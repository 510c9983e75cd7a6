//! Where an incoming deploy would be admitted (SPEC §5.4, §5.9): the receiver's answer to
//! `POST /rpc/admit-categories`, so the initiator's deploy form lists only the categories where
//! the user may deploy — one signed call per target, not one per category.
//!
//! Each category of this platform's tree is judged by the same rule as a real offer
//! ([`pf_domain::admission::decide`]): (a) the mapped account holds `course:create` there, or
//! (b) the calling peer holds the `deploy` grant and asserts a deploy capability on the source —
//! then every category is admitted. The landing category's verdict is given apart (a deploy
//! without a chosen category lands there). Nothing is created: this is a dry run, and the
//! receiver still decides again when the offer arrives.

use super::admission::{account_for, admit, landing_context, remote_label};
use crate::error::AppError;
use crate::platform::Platform;
use pf_domain::access::{has_capability, Capability, Context};
use pf_domain::admission::{decide, AccountFacts, AdmissionFacts, Admitted, Operation};
use pf_domain::ids::CategoryId;
use pf_domain::user::Username;
use pf_store::PeerRecord;
use serde::Serialize;
use std::collections::HashMap;

/// One admitted category.
#[derive(Debug, Clone, Serialize)]
pub struct AdmittedCategory {
    /// Its id here.
    pub id: i64,
    /// How a deploy there would be admitted.
    pub admitted: Admitted,
}

/// The answer of `POST /rpc/admit-categories`.
#[derive(Debug, Clone, Serialize)]
pub struct AdmissionScope {
    /// `username@peer`.
    pub user: String,
    /// The landing (incoming) category's verdict: `null` when admitted, else the refusal
    /// (`{code, message}`).
    pub landing_refused: Option<serde_json::Value>,
    /// How a deploy into the landing category would be admitted.
    pub landing_admitted: Option<Admitted>,
    /// Every category of this platform where a deploy would be admitted (by sort order, then id).
    pub categories: Vec<AdmittedCategory>,
}

/// A category's context chain (itself, its parents, the system), as `Store::context_chain`
/// walks it.
fn chain_of(
    id: CategoryId,
    parents: &HashMap<CategoryId, Option<CategoryId>>,
) -> Result<Vec<Context>, AppError> {
    let mut chain = vec![Context::Category(id)];
    let mut next = parents.get(&id).copied().flatten();
    while let Some(c) = next {
        if chain.len() > parents.len() {
            return Err(AppError::internal("the category tree has a cycle"));
        }
        chain.push(Context::Category(c));
        next = parents.get(&c).copied().flatten();
    }
    chain.push(Context::System);
    Ok(chain)
}

/// The categories of this platform where `peer`'s user `username` may deploy, given the
/// capabilities the peer asserts on the source course. Only `deploy` lets the initiator choose
/// a category.
pub async fn admissible_categories(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
    operation: Operation,
    asserted: &[Capability],
) -> Result<AdmissionScope, AppError> {
    if operation != Operation::Deploy {
        return Err(AppError::bad_request(
            "only a deploy lands in a category the initiator chooses",
        ));
    }
    let label = remote_label(username, peer);
    let landing = match landing_context(p, operation, None, None).await {
        Ok(context) => admit(p, peer, username, operation, context, asserted, false)
            .await
            .map(|a| a.admitted),
        Err(e) => Err(e),
    };
    let account = account_for(p, peer, username).await?;
    let tree = p.store.categories().await?;
    // The capability walk of `Platform::can`, with the account's assignments, the table and
    // the tree read once rather than once per category (trees can be large).
    let holder = match &account {
        Some(u) if !u.disabled => Some((
            p.store.assignments(u.id).await?,
            p.store.role_capabilities().await?,
        )),
        _ => None,
    };
    let parents: HashMap<CategoryId, Option<CategoryId>> =
        tree.iter().map(|c| (c.id, c.parent)).collect();
    let mut categories = Vec::new();
    for category in &tree {
        let facts = match (&account, &holder) {
            (None, _) => AccountFacts::None,
            (Some(_), None) => AccountFacts::Disabled,
            (Some(_), Some((assignments, table))) => {
                let chain = chain_of(category.id, &parents)?;
                if has_capability(table, assignments, &chain, operation.landing_capability()) {
                    AccountFacts::Holds
                } else {
                    AccountFacts::Lacks
                }
            }
        };
        let verdict = decide(&AdmissionFacts {
            operation,
            account: facts,
            grants: &peer.grants,
            asserted,
        });
        if let Ok(admitted) = verdict {
            categories.push(AdmittedCategory {
                id: category.id.0,
                admitted,
            });
        }
    }
    let (landing_admitted, landing_refused) = match landing {
        Ok(a) => (Some(a), None),
        Err(e) => (
            None,
            Some(serde_json::json!({ "code": e.code.as_str(), "message": e.message })),
        ),
    };
    Ok(AdmissionScope {
        user: label,
        landing_refused,
        landing_admitted,
        categories,
    })
}
