/* One way to open a daemon's SQLite file: folders created, ownership checked with PRAGMA
 * application_id, integrity checked, WAL, and the schema brought up by numbered migrations. */
#ifndef IMS_DB_H
#define IMS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct ims_db_spec {
    const char *label;   /* starts every error: "state file", "database" */
    const char *hint;    /* ends errors about the file itself (NULL: none), e.g. "move it
                            away or pass --state :memory:" */
    const char *foreign; /* why a file of someone else is refused, e.g. "not a P-CSCF state
                            file (it holds other data; ...)" */
    int32_t app_id;      /* PRAGMA application_id stamped on files we create */
    /* A file with tables but no application id is ours, made before the id existed (it
     * gets stamped); false: such a file is foreign. */
    bool adopt_unstamped;
    /* migrations[i] moves PRAGMA user_version i -> i+1, in one transaction each. */
    const char *const *migrations;
    size_t nmigrations;
    int busy_ms;       /* sqlite3_busy_timeout */
    bool private_file; /* a new file is created 0600 (it names subscribers) */
    bool exclusive;    /* locking_mode EXCLUSIVE: no second process on the file */
    bool uri;          /* path may be a "file:" URI */
    bool nomutex;      /* the caller serialises access itself */
} ims_db_spec_t;

/* Opens (creating when missing, with its folders) path as spec says and migrates it.
 * Returns 0 with *out set, or: EINVAL (foreign file, corrupt, schema newer than ours),
 * EBUSY (another process holds it), EIO (anything else), ENOMEM; err gets one line
 * naming the file and what to do. *out is left untouched on failure. */
int ims_db_open(const char *path, const ims_db_spec_t *spec, sqlite3 **out, char *err,
                size_t errlen);

/* Runs sql; 0 or EIO with "<what>: <SQLite's words>" in err (err may be NULL). */
int ims_db_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen);

/* The first column of the first row of a one-row query as an int; 0 or EIO. */
int ims_db_int(sqlite3 *db, const char *sql, int *out);

#endif
