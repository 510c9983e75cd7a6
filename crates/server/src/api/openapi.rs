//! The OpenAPI 3.1 description of `/api/v1`, written by hand next to the handlers it describes.

use axum::Json;
use serde_json::{json, Value};

fn error_responses() -> Value {
    let envelope = json!({ "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    json!({
        "400": { "description": "Bad input", "content": envelope["content"] },
        "401": { "description": "Missing, unknown, expired or revoked token", "content": envelope["content"] },
        "403": { "description": "Missing capability", "content": envelope["content"] },
        "404": { "description": "Unknown record", "content": envelope["content"] },
        "409": { "description": "A unique name is taken", "content": envelope["content"] },
        "413": { "description": "Body too large", "content": envelope["content"] }
    })
}

fn ok(schema: Value) -> Value {
    json!({ "description": "OK", "content": { "application/json": { "schema": schema } } })
}

fn operation(summary: &str, ok_status: &str, schema: Value, body: Option<Value>) -> Value {
    let mut responses = error_responses();
    responses[ok_status] = ok(schema);
    let mut op = json!({ "summary": summary, "responses": responses });
    if let Some(body) = body {
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": body } } });
    }
    op
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema_ref(name) })
}

/// `GET /api/v1/openapi.json` (public: it describes, it reveals no data).
pub async fn document() -> Json<Value> {
    let id_param =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "publishflow API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Personal API tokens only: send 'Authorization: Bearer pft_…'. Every error is {status, code, message, details}." },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearer": [] }],
        "paths": {
            "/me": { "get": operation("The caller's account", "200", schema_ref("User"), None) },
            "/categories": {
                "get": operation("Categories the caller may see, parents first", "200", array_of("Category"), None),
                "post": operation("Create a category (category:manage)", "201", schema_ref("Created"), Some(schema_ref("NewCategory")))
            },
            "/courses": {
                "get": {
                    "summary": "Courses the caller may see listed",
                    "parameters": [
                        { "name": "category", "in": "query", "schema": { "type": "integer" } },
                        { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }
                    ],
                    "responses": { "200": ok(array_of("Course")) }
                },
                "post": operation("Create a course (course:create in its category)", "201", schema_ref("Created"), Some(schema_ref("NewCourse")))
            },
            "/courses/{id}": {
                "parameters": id_param,
                "get": operation("A course with its outline and files", "200", schema_ref("CourseDetail"), None),
                "patch": operation("Update a course (course:update)", "200", schema_ref("Course"), Some(schema_ref("CoursePatch")))
            },
            "/jobs": { "get": operation("The caller's jobs (all for administrators), newest first", "200", array_of("Job"), None) },
            "/jobs/{id}": { "parameters": id_param, "get": operation("One job", "200", schema_ref("Job"), None) },
            "/jobs/{id}/cancel": { "parameters": id_param, "post": operation("Cancel a job (at once when queued, at its next step when running)", "200", schema_ref("Job"), None) },
            "/courses/{id}/session/open": {
                "parameters": id_param,
                "post": operation("Open or reopen the course's session (training platforms; publishflow:manage)", "200", schema_ref("Session"), Some(schema_ref("SessionOpen")))
            },
            "/courses/{id}/session/close": {
                "parameters": id_param,
                "post": operation("Close the course's session (training platforms; publishflow:manage)", "200", schema_ref("Session"), Some(schema_ref("SessionClose")))
            },
            "/outbox": {
                "get": {
                    "summary": "Mail queued, delivered or kept without an SMTP server (administrators)",
                    "parameters": [
                        { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
                        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }
                    ],
                    "responses": { "200": ok(array_of("OutboxMessage")) }
                }
            },
            "/courses/import": {
                "post": {
                    "summary": "Import a Moodle backup (.mbz) as a new course, without its user data (course:create in the category; the landing category by default)",
                    "parameters": [{ "name": "category", "in": "query", "schema": { "type": "integer" } },
                        { "name": "into", "in": "query", "description": "Add the backup's activities to this existing course instead (course:update there; answers 200)", "schema": { "type": "integer" } }],
                    "requestBody": { "required": true, "content": {
                        "application/vnd.moodle.backup": { "schema": { "type": "string", "format": "binary" } },
                        "multipart/form-data": { "schema": { "type": "object", "properties": { "file": { "type": "string", "format": "binary" } } } } } },
                    "responses": { "201": ok(schema_ref("ImportResult")), "200": ok(schema_ref("ImportResult")) }
                }
            },
            "/courses/{id}/export": {
                "parameters": id_param,
                "get": {
                    "summary": "The course as a .mbz Moodle restores, without user data (course:update or publishflow:managepublishedfiles)",
                    "responses": { "200": { "description": "The backup", "content": { "application/vnd.moodle.backup": { "schema": { "type": "string", "format": "binary" } } } } }
                }
            },
            "/courses/{id}/archives": {
                "parameters": id_param,
                "get": operation("The course's transport archives, newest first (publishflow:managepublishedfiles)", "200", array_of("Archive"), None),
                "post": operation("Make a transport archive of the course (publishflow:managepublishedfiles)", "201", schema_ref("Archive"), None)
            },
            "/users": {
                "get": operation("Every account (administrators)", "200", array_of("User"), None),
                "post": operation("Create a local account (administrators)", "201", schema_ref("Created"), Some(schema_ref("NewUser")))
            },
            "/peers": {
                "get": operation("Paired platforms (administrators)", "200", array_of("Peer"), None)
            },
            "/peers/{id}": {
                "parameters": id_param,
                "patch": operation("Change a peer's grants or status (administrators)", "200", schema_ref("Peer"), Some(schema_ref("PeerPatch")))
            }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["status", "code", "message"], "properties": {
                    "status": { "type": "integer" }, "code": { "type": "string" }, "message": { "type": "string" }, "details": {} } },
                "Job": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "kind": { "type": "string" },
                    "state": { "enum": ["queued", "preparing", "transferring", "restoring", "done", "failed", "cancelled"] },
                    "progress": { "type": "object", "properties": { "bytes_done": { "type": "integer" }, "bytes_total": { "type": "integer" },
                        "steps_done": { "type": "integer" }, "steps_total": { "type": "integer" }, "step": { "type": "string" } } },
                    "error": { "oneOf": [{ "type": "null" }, { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" } } }] },
                    "result": {}, "transport": { "type": ["string", "null"] }, "idempotency_key": { "type": "string" },
                    "actor": { "type": "string" }, "attempts": { "type": "integer" }, "created": { "type": "string" } } },
                "Created": { "type": "object", "required": ["id"], "properties": { "id": { "type": "integer" } } },
                "Peer": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" }, "url": { "type": "string" },
                    "role": { "type": ["string", "null"] }, "fingerprint": { "type": "string" }, "last_scan": { "type": ["string", "null"], "format": "date-time" },
                    "status": { "enum": ["active", "disabled"] }, "grants": { "type": "array", "items": { "enum": ["publish", "deploy", "retrofit", "sessions"] } } } },
                "PeerPatch": { "type": "object", "additionalProperties": false, "properties": {
                    "grants": { "type": "array", "items": { "enum": ["publish", "deploy", "retrofit", "sessions"] } }, "status": { "enum": ["active", "disabled"] } } },
                "Category": { "type": "object", "properties": { "id": { "type": "integer" }, "parent": { "type": ["integer", "null"] },
                    "name": { "type": "string" }, "idnumber": { "type": "string" }, "path": { "type": "string" } } },
                "NewCategory": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" },
                    "parent": { "type": ["integer", "null"] }, "idnumber": { "type": "string" } } },
                "Course": { "type": "object", "properties": { "id": { "type": "integer" }, "fullname": { "type": "string" },
                    "shortname": { "type": "string" }, "idnumber": { "type": "string" }, "category": { "type": "integer" }, "visible": { "type": "boolean" } } },
                "NewCourse": { "type": "object", "required": ["fullname", "shortname", "category"], "properties": {
                    "fullname": { "type": "string" }, "shortname": { "type": "string" }, "idnumber": { "type": "string" },
                    "category": { "type": "integer" }, "summary": { "type": "string" }, "format": { "enum": ["topics", "weeks"] },
                    "visible": { "type": "boolean" }, "guest_access": { "type": "boolean" }, "lang": { "type": "string" } } },
                "CoursePatch": { "type": "object", "additionalProperties": false, "properties": {
                    "fullname": { "type": "string" }, "shortname": { "type": "string" }, "idnumber": { "type": "string" },
                    "category": { "type": "integer" }, "summary": { "type": "string" }, "format": { "enum": ["topics", "weeks"] },
                    "visible": { "type": "boolean" }, "guest_access": { "type": "boolean" }, "lang": { "type": "string" } } },
                "CourseDetail": { "allOf": [schema_ref("Course"), { "type": "object", "properties": {
                    "sections": { "type": "array", "items": { "type": "object", "properties": { "number": { "type": "integer" }, "name": { "type": "string" }, "visible": { "type": "boolean" } } } },
                    "activities": { "type": "array", "items": { "type": "object", "properties": { "module": { "type": "string" }, "name": { "type": "string" }, "section": { "type": "integer" }, "visible": { "type": "boolean" } } } },
                    "files": { "type": "array", "items": { "type": "object", "properties": { "sha1": { "type": "string" }, "sha256": { "type": "string" }, "size": { "type": "integer" }, "filename": { "type": "string" } } } } } }] },
                "Session": { "type": "object", "required": ["course_id", "category", "visible"], "properties": {
                    "course_id": { "type": "integer" }, "category": { "type": "integer" }, "visible": { "type": "boolean" },
                    "guest_access": { "type": "boolean" }, "switched": { "type": "integer" }, "notified": { "type": "integer" } } },
                "SessionOpen": { "type": "object", "properties": { "notify": { "type": "boolean" }, "reset_start_date": { "type": "boolean" } } },
                "SessionClose": { "type": "object", "required": ["mode"], "additionalProperties": false, "properties": {
                    "mode": { "enum": ["private", "protected", "public"] } } },
                "OutboxMessage": { "type": "object", "properties": { "id": { "type": "integer" }, "kind": { "type": "string" },
                    "to": { "type": "string" }, "subject": { "type": "string" }, "lang": { "type": "string" }, "created": { "type": "string" },
                    "attempts": { "type": "integer" }, "status": { "enum": ["queued", "sent"] }, "sent": { "type": ["string", "null"] },
                    "error": { "type": ["string", "null"] } } },
                "ImportResult": { "type": "object", "required": ["course_id", "shortname", "warnings"], "properties": {
                    "course_id": { "type": "integer" }, "shortname": { "type": "string" }, "warnings": { "type": "array", "items": { "type": "string" } } } },
                "Archive": { "type": "object", "required": ["id", "counter", "size", "sha256", "created"], "properties": {
                    "id": { "type": "integer" }, "counter": { "type": "integer" }, "size": { "type": "integer" },
                    "sha256": { "type": "string", "description": "SHA-256 of the manifest's canonical JSON without its signature" },
                    "created": { "type": "string", "format": "date-time" } } },
                "User": { "type": "object", "properties": { "id": { "type": "integer" }, "username": { "type": "string" },
                    "home": { "type": "string" }, "roles": { "type": "array", "items": { "type": "string" } } } },
                "NewUser": { "type": "object", "required": ["username"], "additionalProperties": false, "properties": {
                    "username": { "type": "string" }, "password": { "type": "string", "minLength": 8 }, "email": { "type": "string" },
                    "fullname": { "type": "string" }, "lang": { "type": "string" },
                    "roles": { "type": "array", "items": { "type": "string", "description": "ROLE[@CONTEXT]" } },
                    "profile": { "type": "object", "additionalProperties": { "type": "string" } } } }
            }
        }
    });
    super::publishing::describe(&mut doc);
    super::catalog::describe(&mut doc);
    super::mutual::describe(&mut doc);
    Json(doc)
}
