/*  An interop peer on czmq (Debian's 4.2.1, over the libzmq it links), speaking the protocol of
    tests/interop/STACKS.md: one JSON document on stdin, JSON lines on stdout.

    czmq does the work wherever it has the facility: zsock for the socket and its options, the
    zauth actor as the ZAP handler of PLAIN servers (a password file written from `users`) and of
    CURVE servers (a directory of zcert public certificates written from `clients`, or the
    directory `cert_dir` the caller gives, or CURVE_ALLOW_ANY), zcert for keys (zcert_apply) and
    certificate files, zarmour for Z85, zmsg/zframe for messages and their properties. Binary
    subscription prefixes go through zmq_setsockopt on the zsock's handle, since
    zsock_set_subscribe takes a C string.

    The czmq extras (STACKS.md, "czmq extras"): mechanism keys `cert_dir`, `cert` (a client's
    secret certificate file) and `verbose` (zauth's log on stderr); the top-level `props` (more
    property names to report); no `type` (a script of certificate operations only); and the ops
    `save_cert` and `load_cert`.

    Built by scripts/setup-czmq.
*/

#include <czmq.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
emit (cJSON *line)
{
    char *text = cJSON_PrintUnformatted (line);
    fputs (text, stdout);
    fputc ('\n', stdout);
    fflush (stdout);
    free (text);
    cJSON_Delete (line);
}

static void
emit_pair (const char *key, cJSON *value)
{
    cJSON *line = cJSON_CreateObject ();
    cJSON_AddItemToObject (line, key, value);
    emit (line);
}

//  The error line, and the message kept for the exit path.
static char s_error [512];

static bool
fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_error, sizeof s_error, format, args);
    va_end (args);
    return false;
}

static char *
read_stdin (void)
{
    size_t size = 0, cap = 1 << 16;
    char *buf = (char *) malloc (cap);
    assert (buf);
    size_t n;
    while ((n = fread (buf + size, 1, cap - size - 1, stdin)) > 0) {
        size += n;
        if (cap - size - 1 == 0) {
            cap *= 2;
            buf = (char *) realloc (buf, cap);
            assert (buf);
        }
    }
    buf [size] = 0;
    return buf;
}

//  Hex text to bytes; returns false on bad text.
static bool
hex_decode (const char *hex, byte **data, size_t *size)
{
    size_t len = strlen (hex);
    if (len % 2)
        return false;
    *size = len / 2;
    *data = (byte *) malloc (*size ? *size : 1);
    assert (*data);
    for (size_t i = 0; i < *size; i++) {
        unsigned int value;
        if (sscanf (hex + 2 * i, "%2x", &value) != 1) {
            free (*data);
            return false;
        }
        (*data) [i] = (byte) value;
    }
    return true;
}

static char *
hex_encode (const byte *data, size_t size)
{
    static const char digits [] = "0123456789abcdef";
    char *text = (char *) malloc (2 * size + 1);
    assert (text);
    for (size_t i = 0; i < size; i++) {
        text [2 * i] = digits [data [i] >> 4];
        text [2 * i + 1] = digits [data [i] & 15];
    }
    text [2 * size] = 0;
    return text;
}

//  A 40-character Z85 key to its 32 octets, with zarmour.
static bool
z85_key (const char *text, byte key [32])
{
    if (!text || strlen (text) != 40)
        return false;
    zarmour_t *armour = zarmour_new ();
    zarmour_set_mode (armour, ZARMOUR_MODE_Z85);
    zchunk_t *chunk = zarmour_decode (armour, text);
    zarmour_destroy (&armour);
    //  zarmour's chunk has a NUL after the decoded octets.
    bool ok = chunk && (zchunk_size (chunk) == 32
                        || (zchunk_size (chunk) == 33 && zchunk_data (chunk) [32] == 0));
    if (ok)
        memcpy (key, zchunk_data (chunk), 32);
    zchunk_destroy (&chunk);
    return ok;
}

static const char *
json_str (cJSON *obj, const char *key)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, key);
    return cJSON_IsString (item) ? item->valuestring : NULL;
}

static int
socket_type (const char *name)
{
    static const struct { const char *name; int type; } types [] = {
        { "PAIR", ZMQ_PAIR }, { "PUB", ZMQ_PUB }, { "SUB", ZMQ_SUB }, { "REQ", ZMQ_REQ },
        { "REP", ZMQ_REP }, { "DEALER", ZMQ_DEALER }, { "ROUTER", ZMQ_ROUTER },
        { "PULL", ZMQ_PULL }, { "PUSH", ZMQ_PUSH }, { "XPUB", ZMQ_XPUB }, { "XSUB", ZMQ_XSUB },
    };
    for (size_t i = 0; i < sizeof types / sizeof types [0]; i++)
        if (streq (types [i].name, name))
            return types [i].type;
    return -1;
}

//  Files this peer wrote for zauth, removed at exit.
static char s_tmpdir [256];

static bool
make_tmpdir (void)
{
    if (*s_tmpdir)
        return true;
    const char *base = getenv ("TMPDIR");
    snprintf (s_tmpdir, sizeof s_tmpdir, "%s/czmq-peer-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp (s_tmpdir)) {
        *s_tmpdir = 0;
        return fail ("mkdtemp: %s", strerror (errno));
    }
    return true;
}

static void
remove_tmpdir (void)
{
    if (!*s_tmpdir)
        return;
    zdir_t *dir = zdir_new (s_tmpdir, NULL);
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
}

static zactor_t *
start_zauth (bool verbose)
{
    zactor_t *auth = zactor_new (zauth, NULL);
    if (auth && verbose) {
        zstr_sendx (auth, "VERBOSE", NULL);
        zsock_wait (auth);
    }
    return auth;
}

//  Applies the mechanism object to the socket; starts zauth when the server needs it.
static bool
apply_mechanism (zsock_t *sock, cJSON *mech, zactor_t **auth)
{
    const char *name = mech ? json_str (mech, "name") : "NULL";
    if (!name || streq (name, "NULL"))
        return true;
    bool server = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (mech, "server"));
    bool verbose = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (mech, "verbose"));
    if (streq (name, "PLAIN")) {
        if (!server) {
            const char *user = json_str (mech, "username");
            const char *password = json_str (mech, "password");
            if (!user || !password)
                return fail ("a PLAIN client needs username and password");
            zsock_set_plain_username (sock, user);
            zsock_set_plain_password (sock, password);
            return true;
        }
        //  zauth reads `name=password` lines.
        if (!make_tmpdir ())
            return false;
        char path [320];
        snprintf (path, sizeof path, "%s/passwords", s_tmpdir);
        FILE *file = fopen (path, "w");
        if (!file)
            return fail ("%s: %s", path, strerror (errno));
        cJSON *users = cJSON_GetObjectItemCaseSensitive (mech, "users");
        cJSON *user;
        cJSON_ArrayForEach (user, users) {
            if (!cJSON_IsString (user) || strchr (user->string, '=')
            ||  strpbrk (user->string, "\r\n") || strpbrk (user->valuestring, "\r\n")) {
                fclose (file);
                return fail ("user %s cannot be written to a zauth password file", user->string);
            }
            fprintf (file, "%s=%s\n", user->string, user->valuestring);
        }
        fclose (file);
        *auth = start_zauth (verbose);
        zstr_sendx (*auth, "PLAIN", path, NULL);
        zsock_wait (*auth);
        zsock_set_plain_server (sock, 1);
        return true;
    }
    if (streq (name, "CURVE")) {
        if (!zsys_has_curve ())
            return fail ("this libzmq has no CURVE");
        zcert_t *cert = NULL;
        const char *cert_file = json_str (mech, "cert");
        if (cert_file) {
            cert = zcert_load (cert_file);
            if (!cert)
                return fail ("zcert_load %s failed", cert_file);
        }
        else {
            byte public_key [32], secret_key [32];
            if (!z85_key (json_str (mech, "public_key"), public_key)
            ||  !z85_key (json_str (mech, "secret_key"), secret_key))
                return fail ("bad or missing public_key / secret_key");
            cert = zcert_new_from (public_key, secret_key);
        }
        zcert_apply (cert, sock);
        zcert_destroy (&cert);
        if (!server) {
            const char *server_key = json_str (mech, "server_key");
            byte check [32];
            if (!z85_key (server_key, check))
                return fail ("bad or missing server_key");
            zsock_set_curve_serverkey (sock, server_key);
            return true;
        }
        const char *location = json_str (mech, "cert_dir");
        cJSON *clients = cJSON_GetObjectItemCaseSensitive (mech, "clients");
        char dir [320];
        if (!location && cJSON_IsArray (clients)) {
            //  One public certificate per client, as zcert writes them.
            if (!make_tmpdir ())
                return false;
            snprintf (dir, sizeof dir, "%s/clients", s_tmpdir);
            if (zsys_dir_create ("%s", dir))
                return fail ("cannot create %s", dir);
            byte no_secret [32] = { 0 };
            int index = 0;
            cJSON *client;
            cJSON_ArrayForEach (client, clients) {
                byte key [32];
                if (!cJSON_IsString (client) || !z85_key (client->valuestring, key))
                    return fail ("bad client key");
                zcert_t *client_cert = zcert_new_from (key, no_secret);
                char path [400];
                snprintf (path, sizeof path, "%s/client%d", dir, index++);
                int rc = zcert_save_public (client_cert, path);
                zcert_destroy (&client_cert);
                if (rc)
                    return fail ("zcert_save_public %s failed", path);
            }
            location = dir;
        }
        *auth = start_zauth (verbose);
        zstr_sendx (*auth, "CURVE", location ? location : CURVE_ALLOW_ANY, NULL);
        zsock_wait (*auth);
        zsock_set_curve_server (sock, 1);
        return true;
    }
    return fail ("unknown mechanism %s", name);
}

static void
add_prop (cJSON *props, zframe_t *frame, const char *name)
{
    const char *value = zframe_meta (frame, name);
    if (value)
        cJSON_AddStringToObject (props, name, value);
}

static cJSON *
message_line (zmsg_t *msg, cJSON *extra_props)
{
    cJSON *line = cJSON_CreateObject ();
    cJSON *frames = cJSON_AddArrayToObject (line, "recv");
    zframe_t *last = NULL;
    for (zframe_t *frame = zmsg_first (msg); frame; frame = zmsg_next (msg)) {
        char *hex = hex_encode (zframe_data (frame), zframe_size (frame));
        cJSON_AddItemToArray (frames, cJSON_CreateString (hex));
        free (hex);
        last = frame;
    }
    cJSON *props = cJSON_AddObjectToObject (line, "props");
    if (last) {
        add_prop (props, last, "Socket-Type");
        add_prop (props, last, "Identity");
        add_prop (props, last, "User-Id");
        add_prop (props, last, "Peer-Address");
        cJSON *name;
        cJSON_ArrayForEach (name, extra_props)
            if (cJSON_IsString (name))
                add_prop (props, last, name->valuestring);
    }
    return line;
}

static bool
starts_with (zframe_t *frame, const byte *prefix, size_t size)
{
    return frame && zframe_size (frame) >= size && memcmp (zframe_data (frame), prefix, size) == 0;
}

static bool
op_save_cert (cJSON *step)
{
    const char *path = json_str (step, "path");
    if (!path)
        return fail ("save_cert needs a path");
    zcert_t *cert;
    const char *public_txt = json_str (step, "public_key");
    const char *secret_txt = json_str (step, "secret_key");
    if (public_txt || secret_txt) {
        byte public_key [32], secret_key [32];
        if (!z85_key (public_txt, public_key) || !z85_key (secret_txt, secret_key))
            return fail ("save_cert: bad public_key / secret_key");
        cert = zcert_new_from (public_key, secret_key);
    }
    else
        cert = zcert_new ();
    cJSON *meta;
    cJSON_ArrayForEach (meta, cJSON_GetObjectItemCaseSensitive (step, "metadata"))
        if (cJSON_IsString (meta))
            zcert_set_meta (cert, meta->string, "%s", meta->valuestring);
    const char *which = json_str (step, "which");
    int rc = !which || streq (which, "both") ? zcert_save (cert, path)
           : streq (which, "public") ? zcert_save_public (cert, path)
           : zcert_save_secret (cert, path);
    if (rc) {
        zcert_destroy (&cert);
        return fail ("zcert_save %s failed", path);
    }
    cJSON *line = cJSON_CreateObject ();
    cJSON_AddStringToObject (line, "saved", path);
    cJSON_AddStringToObject (line, "public_key", zcert_public_txt (cert));
    cJSON_AddStringToObject (line, "secret_key", zcert_secret_txt (cert));
    emit (line);
    zcert_destroy (&cert);
    return true;
}

static bool
op_load_cert (cJSON *step)
{
    const char *path = json_str (step, "path");
    zcert_t *cert = path ? zcert_load (path) : NULL;
    if (!cert)
        return fail ("zcert_load %s failed", path ? path : "(no path)");
    cJSON *line = cJSON_CreateObject ();
    cJSON_AddStringToObject (line, "loaded", path);
    cJSON_AddStringToObject (line, "public_key", zcert_public_txt (cert));
    //  zcert gives a public certificate an all-zero secret key.
    static const byte zero [32] = { 0 };
    if (memcmp (zcert_secret_key (cert), zero, 32))
        cJSON_AddStringToObject (line, "secret_key", zcert_secret_txt (cert));
    else
        cJSON_AddNullToObject (line, "secret_key");
    cJSON *metadata = cJSON_AddObjectToObject (line, "metadata");
    zlist_t *keys = zcert_meta_keys (cert);
    for (char *key = (char *) zlist_first (keys); key; key = (char *) zlist_next (keys))
        cJSON_AddStringToObject (metadata, key, zcert_meta (cert, key));
    zlist_destroy (&keys);
    emit (line);
    zcert_destroy (&cert);
    return true;
}

static bool
run_script (zsock_t *sock, cJSON *cfg, int timeout_ms)
{
    cJSON *extra_props = cJSON_GetObjectItemCaseSensitive (cfg, "props");
    cJSON *step;
    cJSON_ArrayForEach (step, cJSON_GetObjectItemCaseSensitive (cfg, "script")) {
        const char *op = json_str (step, "op");
        if (!op)
            return fail ("a step without op");
        if (streq (op, "sleep")) {
            zclock_sleep ((int) cJSON_GetNumberValue (cJSON_GetObjectItemCaseSensitive (step, "ms")));
            continue;
        }
        if (streq (op, "save_cert")) {
            if (!op_save_cert (step))
                return false;
            continue;
        }
        if (streq (op, "load_cert")) {
            if (!op_load_cert (step))
                return false;
            continue;
        }
        if (!sock)
            return fail ("op %s needs a socket (no type given)", op);
        if (streq (op, "send")) {
            zmsg_t *msg = zmsg_new ();
            cJSON *frame;
            cJSON_ArrayForEach (frame, cJSON_GetObjectItemCaseSensitive (step, "frames")) {
                byte *data;
                size_t size;
                if (!cJSON_IsString (frame) || !hex_decode (frame->valuestring, &data, &size)) {
                    zmsg_destroy (&msg);
                    return fail ("a frame is not hex");
                }
                zmsg_addmem (msg, data, size);
                free (data);
            }
            if (zmsg_send (&msg, sock)) {
                zmsg_destroy (&msg);
                return fail ("send failed: %s", zmq_strerror (zmq_errno ()));
            }
        }
        else
        if (streq (op, "recv") || streq (op, "echo")) {
            cJSON *count_item = cJSON_GetObjectItemCaseSensitive (step, "count");
            int count = cJSON_IsNumber (count_item) ? count_item->valueint : 1;
            byte *skip = NULL;
            size_t skip_size = 0;
            const char *skip_hex = json_str (step, "skip");
            if (skip_hex && !hex_decode (skip_hex, &skip, &skip_size))
                return fail ("skip is not hex");
            for (int got = 0; got < count; ) {
                zmsg_t *msg = zmsg_recv (sock);
                if (!msg) {
                    free (skip);
                    return fail ("no message within %d ms (%s)", timeout_ms,
                                 zmq_strerror (zmq_errno ()));
                }
                if (skip && starts_with (zmsg_first (msg), skip, skip_size)) {
                    zmsg_destroy (&msg);
                    continue;
                }
                got++;
                emit (message_line (msg, extra_props));
                if (streq (op, "echo") && zmsg_send (&msg, sock)) {
                    zmsg_destroy (&msg);
                    free (skip);
                    return fail ("echo send failed: %s", zmq_strerror (zmq_errno ()));
                }
                zmsg_destroy (&msg);
            }
            free (skip);
        }
        else
            return fail ("unknown op %s", op);
    }
    return true;
}

int
main (void)
{
    //  czmq logs to stdout unless told otherwise: stdout is the protocol's.
    zsys_set_logstream (stderr);
    char *text = read_stdin ();
    cJSON *cfg = cJSON_Parse (text);
    free (text);
    if (!cfg) {
        emit_pair ("error", cJSON_CreateString ("the configuration is not JSON"));
        return 1;
    }
    cJSON *timeout_item = cJSON_GetObjectItemCaseSensitive (cfg, "timeout_ms");
    int timeout_ms = cJSON_IsNumber (timeout_item) ? timeout_item->valueint : 10000;
    zsock_t *sock = NULL;
    zactor_t *auth = NULL;
    bool ok = true;

    const char *type_name = json_str (cfg, "type");
    if (type_name) {
        int type = socket_type (type_name);
        if (type < 0)
            ok = fail ("unknown socket type %s", type_name);
        else {
            sock = zsock_new (type);
            if (!sock)
                ok = fail ("zsock_new: %s", zmq_strerror (zmq_errno ()));
        }
        if (ok) {
            zsock_set_rcvtimeo (sock, timeout_ms);
            zsock_set_sndtimeo (sock, timeout_ms);
            ok = apply_mechanism (sock, cJSON_GetObjectItemCaseSensitive (cfg, "mechanism"), &auth);
        }
        cJSON *prefix;
        cJSON_ArrayForEach (prefix, cJSON_GetObjectItemCaseSensitive (cfg, "subscribe")) {
            byte *data;
            size_t size;
            if (!ok)
                break;
            if (!cJSON_IsString (prefix) || !hex_decode (prefix->valuestring, &data, &size))
                ok = fail ("a subscription is not hex");
            else {
                if (zmq_setsockopt (zsock_resolve (sock), ZMQ_SUBSCRIBE, data, size))
                    ok = fail ("subscribe: %s", zmq_strerror (zmq_errno ()));
                free (data);
            }
        }
        const char *bind = json_str (cfg, "bind");
        const char *connect = json_str (cfg, "connect");
        if (ok && bind) {
            if (zsock_bind (sock, "%s", bind) < 0)
                ok = fail ("bind %s: %s", bind, zmq_strerror (zmq_errno ()));
            else
                emit_pair ("bound", cJSON_CreateString (zsock_endpoint (sock)));
        }
        if (ok && connect && zsock_connect (sock, "%s", connect))
            ok = fail ("connect %s: %s", connect, zmq_strerror (zmq_errno ()));
        if (ok)
            emit_pair ("ready", cJSON_CreateTrue ());
    }
    if (ok)
        ok = run_script (sock, cfg, timeout_ms);
    if (ok)
        emit_pair ("done", cJSON_CreateTrue ());
    else
        emit_pair ("error", cJSON_CreateString (s_error));

    if (sock) {
        zsock_set_linger (sock, 1000);
        zsock_destroy (&sock);
    }
    zactor_destroy (&auth);
    remove_tmpdir ();
    cJSON_Delete (cfg);
    return ok ? 0 : 1;
}
