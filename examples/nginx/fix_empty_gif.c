/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A live patch for nginx, written as an nginx developer would: against
 * nginx's own headers, replacing the (static) empty_gif handler so that
 * location { empty_gif; } answers text instead of the 1x1 GIF.  nginx exports
 * no symbols, so the functions the handler calls are reached through
 * HOTPATCH_SYMBOL.  Build (from the configured nginx source tree):
 *
 *     cc -O2 -shared -fPIC $(pkg-config --cflags hotpatch) \
 *        -I src/core -I src/event -I src/event/modules -I src/os/unix \
 *        -I src/http -I src/http/modules -I objs fix_empty_gif.c -o fix_empty_gif.so
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hotpatch.h>

static ngx_int_t (*p_discard_request_body)(ngx_http_request_t *r);
static ngx_int_t (*p_send_header)(ngx_http_request_t *r);
static ngx_int_t (*p_output_filter)(ngx_http_request_t *r, ngx_chain_t *in);
static void *(*p_pcalloc)(ngx_pool_t *pool, size_t size);

HOTPATCH_SYMBOL(ngx_http_discard_request_body, p_discard_request_body);
HOTPATCH_SYMBOL(ngx_http_send_header, p_send_header);
HOTPATCH_SYMBOL(ngx_http_output_filter, p_output_filter);
HOTPATCH_SYMBOL(ngx_pcalloc, p_pcalloc);

static u_char message[] = "patched by hotpatch\n";

static ngx_int_t empty_gif_patched(ngx_http_request_t *r)
{
	ngx_buf_t *b;
	ngx_chain_t *out;
	ngx_int_t rc;

	if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD)))
		return NGX_HTTP_NOT_ALLOWED;
	rc = p_discard_request_body(r);
	if (rc != NGX_OK)
		return rc;
	r->headers_out.status = NGX_HTTP_OK;
	r->headers_out.content_length_n = sizeof(message) - 1;
	ngx_str_set(&r->headers_out.content_type, "text/plain");
	r->headers_out.content_type_len = r->headers_out.content_type.len;
	rc = p_send_header(r);
	if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
		return rc;
	b = p_pcalloc(r->pool, sizeof(*b));
	out = p_pcalloc(r->pool, sizeof(*out));
	if (!b || !out)
		return NGX_HTTP_INTERNAL_SERVER_ERROR;
	b->pos = message;
	b->last = message + sizeof(message) - 1;
	b->memory = 1;
	b->last_buf = 1;
	out->buf = b;
	return p_output_filter(r, out);
}

HOTPATCH_REPLACE(ngx_http_empty_gif_handler, empty_gif_patched);
