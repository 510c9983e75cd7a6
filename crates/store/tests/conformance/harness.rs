//! Runs a test body once per backend, each time on a brand-new database.

use pf_domain::course::{Fullname, IdNumber, Shortname};
use pf_domain::ids::{CategoryId, CourseId};
use pf_store::{NewCategory, NewCourse, Store};
use sqlx::postgres::PgPoolOptions;
use sqlx::Executor;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming a PostgreSQL server for the suite.
pub const PG_ENV: &str = "PUBLISHFLOW_TEST_DATABASE_URL";

/// A database for one test.
#[derive(Clone, Debug)]
pub struct Db {
    /// The connected store.
    pub store: Store,
    /// Its URL, to connect again (a second process, a restart).
    pub url: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `base` with its database name replaced by `name` (keeps user, host and `?host=` sockets).
pub fn with_database(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    let mut url = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Runs `body` on a fresh SQLite database, then on a fresh PostgreSQL one if configured.
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("publishflow.db").display());
    let store = Store::connect(&url)
        .await
        .expect("open a fresh SQLite database");
    let outcome = tokio::spawn(body(Db {
        store: store.clone(),
        url,
    }))
    .await;
    store.close().await;
    if let Err(e) = outcome {
        eprintln!("failed on sqlite");
        std::panic::resume_unwind(e.into_panic());
    }

    let Ok(base) = std::env::var(PG_ENV) else {
        return;
    };
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
    let name = format!("pf_test_{}", unique_suffix());
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create the test database");
    let url = with_database(&base, &name);
    let outcome = match Store::connect(&url).await {
        Ok(store) => {
            let outcome = tokio::spawn(body(Db {
                store: store.clone(),
                url,
            }))
            .await;
            store.close().await;
            outcome.map_err(|e| e.into_panic())
        }
        Err(e) => Err(Box::new(format!(
            "connecting to the fresh PostgreSQL database failed: {e:?}"
        )) as _),
    };
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .expect("drop the test database");
    admin.close().await;
    if let Err(panic) = outcome {
        eprintln!("failed on postgres");
        std::panic::resume_unwind(panic);
    }
}

/// A short name.
pub fn sn(s: &str) -> Shortname {
    Shortname::parse(s).unwrap()
}

/// A course with sensible defaults.
pub fn new_course(category: CategoryId, shortname: &str) -> NewCourse {
    NewCourse {
        category,
        fullname: Fullname::parse(&format!("Course {shortname}")).unwrap(),
        shortname: sn(shortname),
        idnumber: IdNumber::default(),
        summary: "<p>About</p>".into(),
        format: "topics".into(),
        start_date: 1_700_000_000,
        end_date: 0,
        lang: String::new(),
        visible: true,
        guest_access: false,
        archive_payload: None,
    }
}

/// A visible top-level category.
pub async fn category(store: &Store, name: &str) -> CategoryId {
    store
        .create_category(NewCategory {
            parent: None,
            name: name.into(),
            idnumber: String::new(),
            visible: true,
        })
        .await
        .unwrap()
}

/// A category and one course in it.
pub async fn course(store: &Store, shortname: &str) -> (CategoryId, CourseId) {
    let cat = category(store, &format!("Category of {shortname}")).await;
    let id = store
        .create_course(new_course(cat, shortname))
        .await
        .unwrap();
    (cat, id)
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(
        with_database("postgres:///root?host=/var/run/postgresql", "pf_x"),
        "postgres:///pf_x?host=/var/run/postgresql"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432/db", "pf_x"),
        "postgres://u:p@h:5432/pf_x"
    );
    assert_eq!(
        with_database("postgresql://h", "pf_x"),
        "postgresql://h/pf_x"
    );
}
