/* verify_agree.h — the accept rule of the `auto:verify` cascade: the final
 * short answer of a model's reply (a multiple-choice letter, a final number,
 * yes/no, the argument of the last \boxed{}, what follows the last "answer
 * is" / "Answer:", else the last non-empty line), normalised so that
 * whitespace, case and punctuation do not matter, and whether two replies
 * agree. A reply that is code (a fenced block) has no short answer: code is
 * checked by a verifier, never by agreement.
 *
 * Pure functions over the caller's bytes; no allocation, no global state.
 * tools/route/verify_answers.c calls exactly these for the offline
 * measurement (tools/route/verify_eval.mjs): serve/measure parity. */
#ifndef GR_VERIFY_AGREE_H
#define GR_VERIFY_AGREE_H

#include "common.h"

#define GR_VERIFY_ANSWER_MAX 128 /* bytes of a normalised answer kept (NUL included) */

typedef enum {
    GR_ANSWER_NONE = 0, /* empty reply */
    GR_ANSWER_CHOICE,   /* "B" */
    GR_ANSWER_NUMBER,   /* "1234.5" */
    GR_ANSWER_YESNO,    /* "yes" | "no" */
    GR_ANSWER_TEXT,     /* lower-case words separated by one space */
    GR_ANSWER_CODE,     /* a fenced code block: no short answer */
} gr_answer_kind;

typedef enum {
    GR_AGREE_NORMALISED = 0, /* the normalised final answers are equal (default) */
    GR_AGREE_EXACT,          /* the whole replies are equal, surrounding whitespace aside */
} gr_agree_mode;

/* The normalised final answer of text into out (capacity cap, at least 2;
 * always NUL-terminated, cut at GR_VERIFY_ANSWER_MAX - 1). */
gr_answer_kind gr_verify_final_answer(const char *text, size_t len, char *out, size_t cap);

/* Whether two replies agree under mode. why (may be NULL) gets a short
 * header-safe reason: "same answer 'B'", "answers differ", "code", "empty". */
bool gr_verify_agree(const char *a, size_t alen, const char *b, size_t blen, gr_agree_mode mode, char *why,
                     size_t whylen);

const char *gr_answer_kind_name(gr_answer_kind k);
/* "exact" | "normalised" -> mode; false for anything else. */
bool gr_agree_mode_parse(const char *s, gr_agree_mode *out);

#endif
