/* fuzz_verify_agree.c — the auto:verify accept rule (src/verify_agree.c) on
 * arbitrary model replies (untrusted upstream text). For the input, split at
 * its first NUL byte (or in the middle) into two replies:
 *   - the final answer fits its buffer, NUL-terminated, in the shape its kind
 *     promises (one letter A-J; a number strtod reads whole; yes/no; words of
 *     [a-z0-9] and non-ASCII bytes separated by single spaces; empty for
 *     none and code), and a smaller buffer never overflows;
 *   - agreement is symmetric, a reply agrees with itself exactly when it has
 *     a short answer, and the reason is a short printable string. */
#include "fuzz.h"
#include "verify_agree.h"

#include <ctype.h>

static void check_answer(const char *s, size_t n) {
    char out[GR_VERIFY_ANSWER_MAX + 8];
    memset(out, 'Z', sizeof out);
    gr_answer_kind k = gr_verify_final_answer(s, n, out, GR_VERIFY_ANSWER_MAX);
    size_t len = strnlen(out, GR_VERIFY_ANSWER_MAX);
    GR_FUZZ_ASSERT(len < GR_VERIFY_ANSWER_MAX);
    GR_FUZZ_ASSERT(out[GR_VERIFY_ANSWER_MAX] == 'Z'); /* nothing written past the cap */
    switch (k) {
    case GR_ANSWER_NONE:
    case GR_ANSWER_CODE: GR_FUZZ_ASSERT(len == 0); break;
    case GR_ANSWER_CHOICE: GR_FUZZ_ASSERT(len == 1 && out[0] >= 'A' && out[0] <= 'J'); break;
    case GR_ANSWER_YESNO: GR_FUZZ_ASSERT(!strcmp(out, "yes") || !strcmp(out, "no")); break;
    case GR_ANSWER_NUMBER: {
        char *end = NULL;
        (void)strtod(out, &end);
        GR_FUZZ_ASSERT(len > 0 && end && *end == '\0');
        break;
    }
    case GR_ANSWER_TEXT:
        GR_FUZZ_ASSERT(len > 0 && out[0] != ' ' && out[len - 1] != ' ');
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)out[i];
            GR_FUZZ_ASSERT(c >= 0x80 || islower(c) || isdigit(c) || (c == ' ' && out[i + 1] != ' '));
        }
        break;
    }
    char small[3];
    memset(small, 'Z', sizeof small);
    (void)gr_verify_final_answer(s, n, small, 2);
    GR_FUZZ_ASSERT(small[2] == 'Z' && strnlen(small, 2) < 2);
    /* a reply agrees with itself exactly when it has a short answer */
    bool self = gr_verify_agree(s, n, s, n, GR_AGREE_NORMALISED, NULL, 0);
    GR_FUZZ_ASSERT(self == (k != GR_ANSWER_NONE && k != GR_ANSWER_CODE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    const char *nul = memchr(s, '\0', size);
    size_t an = nul ? (size_t)(nul - s) : size / 2;
    const char *b = s + an + (nul ? 1 : 0);
    size_t bn = size - (size_t)(b - s);
    check_answer(s, an);
    check_answer(b, bn);
    for (int mode = 0; mode < 2; mode++) {
        char w1[64], w2[64];
        bool ab = gr_verify_agree(s, an, b, bn, (gr_agree_mode)mode, w1, sizeof w1);
        bool ba = gr_verify_agree(b, bn, s, an, (gr_agree_mode)mode, w2, sizeof w2);
        GR_FUZZ_ASSERT(ab == ba);
        GR_FUZZ_ASSERT(strlen(w1) < sizeof w1);
        for (const char *p = w1; *p; p++) GR_FUZZ_ASSERT((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    }
    return 0;
}
