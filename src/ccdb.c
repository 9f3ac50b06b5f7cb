/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ccdb.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define ERR_MAX (16 * 1024)

/* Splits a "command" string as a POSIX shell would split words: quotes
 * and backslashes, no expansions (the generators write no others). */
static int split_command(const char *s, char ***ret, size_t *ret_n)
{
	char **v = NULL, *w = malloc(strlen(s) + 1);
	size_t n = 0, len = 0;
	bool in_word = false;
	char q = 0;

	if (!w)
		return -ENOMEM;
	for (;; s++) {
		char ch = *s;

		if (!ch || (!q && (ch == ' ' || ch == '\t' || ch == '\n'))) {
			if (in_word) {
				char **nv = realloc(v, (n + 2) * sizeof(*v));

				if (!nv)
					goto oom;
				v = nv;
				w[len] = 0;
				if (!(v[n++] = strdup(w)))
					goto oom;
				v[n] = NULL;
				len = 0;
				in_word = false;
			}
			if (!ch)
				break;
			continue;
		}
		in_word = true;
		if (q) {
			if (ch == q)
				q = 0;
			else if (ch == '\\' && q == '"' && s[1] && strchr("\"\\$`", s[1]))
				w[len++] = *++s;
			else
				w[len++] = ch;
		} else if (ch == '\'' || ch == '"') {
			q = ch;
		} else if (ch == '\\' && s[1]) {
			w[len++] = *++s;
		} else {
			w[len++] = ch;
		}
	}
	free(w);
	if (q)
		return hp_ccmd_argv_free(v), -EINVAL;
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	free(w);
	hp_ccmd_argv_free(v);
	return -ENOMEM;
}

static int argv_from_array(struct json_object *a, char ***ret, size_t *ret_n)
{
	size_t n = json_object_array_length(a);
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(a, i));

		if (!s || !(v[i] = strdup(s))) {
			hp_ccmd_argv_free(v);
			return s ? -ENOMEM : -EINVAL;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The argument naming the source: the one that normalises to `file`. */
static size_t find_src_arg(const struct hp_ccmd *c)
{
	for (size_t i = c->argc; i-- > 1;) {
		char *p = hp_path_normalise(c->directory, c->argv[i]);
		bool same = p && !strcmp(p, c->file);

		free(p);
		if (same)
			return i;
	}
	return 0;
}

/* "gcc", "cc", "clang-14", "x86_64-linux-gnu-gcc-12", "/usr/bin/c99" */
static bool compiler_name(const char *path)
{
	static const char *const names[] = {"gcc", "clang", "cc", "c99", "c11"};
	const char *b = hp_basename(path);
	size_t n = strlen(b);

	while (n && ((b[n - 1] >= '0' && b[n - 1] <= '9') || b[n - 1] == '.'))
		n--;
	if (n && b[n - 1] == '-')
		n--;
	for (size_t i = 0; i < HP_ARRAY_SIZE(names); i++) {
		size_t l = strlen(names[i]);

		if (n >= l && !strncmp(b + n - l, names[i], l) && (n == l || b[n - l - 1] == '-'))
			return true;
	}
	return false;
}

static bool known_compiler(char *const *argv, size_t argc)
{
	const char *b = hp_basename(argv[0]);

	if ((!strcmp(b, "ccache") || !strcmp(b, "distcc")) && argc > 1)
		return compiler_name(argv[1]);
	return compiler_name(argv[0]);
}

int hp_ccmd_check_compiler(const struct hp_ccmd *c)
{
	if (c->known_cc)
		return 0;
	return hp_fail(-HP_ESOURCE,
		       "the compile command of %s runs %s, which is not a C compiler hotpatch build "
		       "knows (gcc, clang, cc, their cross and versioned names, behind ccache or "
		       "distcc): it will not run it",
		       c->file, c->argv[0]);
}

static int load_entry(struct json_object *e, struct hp_ccmd *c)
{
	struct json_object *dir, *file, *args, *cmd;
	int r;

	if (!json_object_object_get_ex(e, "directory", &dir) ||
	    !json_object_object_get_ex(e, "file", &file))
		return -EINVAL;
	c->directory = strdup(json_object_get_string(dir));
	if (!c->directory)
		return -ENOMEM;
	c->file = hp_path_normalise(c->directory, json_object_get_string(file));
	if (!c->file)
		return -ENOMEM;
	if (json_object_object_get_ex(e, "arguments", &args) &&
	    json_object_is_type(args, json_type_array))
		r = argv_from_array(args, &c->argv, &c->argc);
	else if (json_object_object_get_ex(e, "command", &cmd))
		r = split_command(json_object_get_string(cmd), &c->argv, &c->argc);
	else
		r = -EINVAL;
	if (r < 0)
		return r;
	if (c->argc < 2)
		return -EINVAL;
	c->src_arg = find_src_arg(c);
	c->known_cc = known_compiler(c->argv, c->argc);
	return c->src_arg ? 0 : -EINVAL;
}

static void ccmd_free(struct hp_ccmd *c)
{
	free(c->directory);
	free(c->file);
	hp_ccmd_argv_free(c->argv);
}

int hp_ccdb_load(const char *path, struct hp_ccdb *ret)
{
	struct json_object *root = json_object_from_file(path);
	struct hp_ccdb db = {0};
	size_t n;
	int r = 0;

	if (!root)
		return hp_fail(-EINVAL,
			       "cannot read %s: %s (make one with `bear -- make`, or CMake's -DCMAKE_EXPORT_COMPILE_COMMANDS=ON; meson writes it in its build directory)",
			       path,
			       json_util_get_last_err() ? json_util_get_last_err() : "not JSON");
	if (!json_object_is_type(root, json_type_array)) {
		r = hp_fail(-EINVAL, "%s is not a compilation database (a JSON array)", path);
		goto out;
	}
	n = json_object_array_length(root);
	db.cmds = calloc(n ? n : 1, sizeof(*db.cmds));
	db.path = strdup(path);
	if (!db.cmds || !db.path) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++, db.ncmds++) {
		r = load_entry(json_object_array_get_idx(root, i), &db.cmds[i]);
		if (r < 0) {
			r = hp_fail(r,
				    "%s: entry %zu is not a compile command (it needs \"directory\", \"file\" and \"arguments\" or \"command\" naming that file)",
				    path, i + 1);
			db.ncmds++;
			goto out;
		}
	}
	*ret = db;
	db = (struct hp_ccdb){0};
out:
	hp_ccdb_free(&db);
	json_object_put(root);
	return r;
}

void hp_ccdb_free(struct hp_ccdb *db)
{
	for (size_t i = 0; i < db->ncmds; i++)
		ccmd_free(&db->cmds[i]);
	free(db->cmds);
	free(db->path);
	*db = (struct hp_ccdb){0};
}

const struct hp_ccmd *hp_ccdb_find(const struct hp_ccdb *db, const char *file)
{
	char *want = hp_path_normalise("/", file);
	const struct hp_ccmd *found = NULL;

	for (size_t i = 0; want && i < db->ncmds; i++)
		if (!strcmp(db->cmds[i].file, want))
			found = &db->cmds[i];
	free(want);
	return found;
}

void hp_ccmd_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Options that write files of their own beside the object, and how many
 * arguments each takes. */
static int dep_option(const char *a)
{
	static const char *const one[] = {"-MF", "-MT", "-MQ"};
	static const char *const none[] = {"-MD", "-MMD", "-MP", "-M", "-MM"};

	for (size_t i = 0; i < HP_ARRAY_SIZE(one); i++)
		if (!strcmp(a, one[i]))
			return 2;
	for (size_t i = 0; i < HP_ARRAY_SIZE(none); i++)
		if (!strcmp(a, none[i]))
			return 1;
	if (!strncmp(a, "-MF", 3) || !strncmp(a, "-MT", 3) || !strncmp(a, "-MQ", 3) ||
	    !strncmp(a, "-Wp,-MD", 7) || !strncmp(a, "-Wp,-MMD", 8))
		return 1;
	return 0;
}

static int push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

char **hp_ccmd_argv(const struct hp_ccmd *c, const struct hp_recompile *rc)
{
	char **v = NULL;
	size_t n = 0;
	int r = push(&v, &n, c->argv[0]);

	for (size_t i = 0; r == 0 && i < rc->npre; i++)
		r = push(&v, &n, rc->pre[i]);
	for (size_t i = 1; r == 0 && i < c->argc; i++) {
		int skip = dep_option(c->argv[i]);

		if (skip) {
			i += skip - 1;
			continue;
		}
		if (!strcmp(c->argv[i], "-o")) {
			i++;
			continue;
		}
		if (!strncmp(c->argv[i], "-o", 2))
			continue;
		r = push(&v, &n, i == c->src_arg && rc->source ? rc->source : c->argv[i]);
	}
	for (size_t i = 0; r == 0 && i < rc->npost; i++)
		r = push(&v, &n, rc->post[i]);
	if (r == 0 && rc->output)
		r = push(&v, &n, "-o");
	if (r == 0 && rc->output)
		r = push(&v, &n, rc->output);
	if (r < 0) {
		hp_ccmd_argv_free(v);
		return NULL;
	}
	return v;
}

char **hp_ccmd_parse_args(const struct hp_ccmd *c, size_t *ret_n)
{
	struct hp_recompile rc = {0};
	char **v = hp_ccmd_argv(c, &rc), **out;
	size_t n = 0, k = 0;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out) {
		hp_ccmd_argv_free(v);
		return NULL;
	}
	/* v[0] is the compiler; drop -c and the source (the caller names it) */
	for (size_t i = 1; i < n; i++) {
		char *p = hp_path_normalise(c->directory, v[i]);
		bool src = p && !strcmp(p, c->file);

		free(p);
		if (!strcmp(v[i], "-c") || src) {
			free(v[i]);
			continue;
		}
		out[k++] = v[i];
	}
	free(v[0]);
	free(v);
	*ret_n = k;
	return out;
}

static int start_job(struct hp_job *j, int *ret_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (chdir(j->dir) < 0)
			_exit(126);
		execvp(j->argv[0], j->argv);
		fprintf(stderr, "cannot run %s: %s\n", j->argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*ret_fd = p[0];
	return pid;
}

/* Reads a job's output until it closes, keeping the first ERR_MAX bytes. */
static void drain(int fd, struct hp_job *j, size_t *len)
{
	char buf[4096];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!j->err)
			j->err = calloc(1, ERR_MAX + 1);
		if (j->err && *len < ERR_MAX) {
			size_t take = HP_MIN((size_t)r, ERR_MAX - *len);

			memcpy(j->err + *len, buf, take);
			*len += take;
		}
	}
}

static int run_one(struct hp_job *j)
{
	size_t len = 0;
	int fd = -1, status = 0;
	pid_t pid = start_job(j, &fd);

	if (pid < 0)
		return hp_fail(pid, "%s: cannot start %s", j->what, j->argv[0]);
	drain(fd, j, &len);
	close(fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	j->status = status;
	return 0;
}

struct pool {
	struct hp_job *jobs;
	size_t n, next;
	pthread_mutex_t lock;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->lock);
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->n)
			return NULL;
		if (run_one(&p->jobs[i]) < 0)
			p->jobs[i].status = 127 << 8;
	}
}

static int job_failure(const struct hp_job *j)
{
	const char *msgs = j->err && *j->err ? j->err : "(no message)\n";

	if (WIFEXITED(j->status))
		return hp_fail(-HP_ESOURCE, "%s failed (exit %d):\n%s", j->what,
			       WEXITSTATUS(j->status), msgs);
	return hp_fail(-HP_ESOURCE, "%s was killed by signal %d:\n%s", j->what, WTERMSIG(j->status),
		       msgs);
}

int hp_run_jobs(struct hp_job *jobs, size_t n, unsigned parallel)
{
	struct pool p = {.jobs = jobs, .n = n, .lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_t th[16];
	size_t nth = HP_MIN(HP_MIN((size_t)(parallel ? parallel : 1), n), HP_ARRAY_SIZE(th)),
	       started = 0;

	for (size_t i = 0; i < n; i++)
		jobs[i].status = -1;
	for (; started + 1 < nth; started++)
		if (pthread_create(&th[started], NULL, worker, &p) != 0)
			break;
	worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].status != 0)
			return job_failure(&jobs[i]);
	return 0;
}

void hp_jobs_free(struct hp_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].err);
		jobs[i].err = NULL;
	}
}
