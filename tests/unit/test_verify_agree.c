/* test_verify_agree.c — the `auto:verify` accept rule (src/verify_agree.c):
 * final-answer extraction per kind (choice letter, number, yes/no, \boxed{},
 * "answer is", last line, code) and agreement, normalised and exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "verify_agree.h"

typedef struct {
    const char *id, *text;
    gr_answer_kind kind;
    const char *answer;
} answer_case;

static const answer_case k_answers[] = {
    {"choice-1", "C\n", GR_ANSWER_CHOICE, "C"},
    {"choice-2", "  **B**  ", GR_ANSWER_CHOICE, "B"},
    {"choice-3", "The answer is (d).", GR_ANSWER_CHOICE, "D"},
    {"choice-4", "Let me think.\nPlants need light.\nAnswer: B) photosynthesis", GR_ANSWER_CHOICE, "B"},
    {"choice-5", "The correct answer is C.", GR_ANSWER_CHOICE, "C"},
    {"choice-6", "[A]", GR_ANSWER_CHOICE, "A"},
    {"choice-7", "a", GR_ANSWER_CHOICE, "A"},
    {"choice-8", "D (ammonia)", GR_ANSWER_CHOICE, "D"},
    {"not-choice-3", "I do not know", GR_ANSWER_TEXT, "i do not know"},
    {"not-choice-1", "A car moving fast", GR_ANSWER_TEXT, "a car moving fast"},
    {"not-choice-2", "a. b. c.", GR_ANSWER_TEXT, "a b c"},
    {"number-1", "She has 3 apples and buys 4 more, so 7 in total.\n#### 7", GR_ANSWER_NUMBER, "7"},
    {"number-2", "The final answer is $1,234.50.", GR_ANSWER_NUMBER, "1234.5"},
    {"number-3", "x = \\boxed{-12} and that is it. 99", GR_ANSWER_NUMBER, "-12"},
    {"fraction-1", "\\boxed{\\frac{1}{2}} hmm", GR_ANSWER_TEXT, "frac 1 2"},
    {"fraction-2", "Answer: 3/2", GR_ANSWER_TEXT, "3 2"},
    {"number-5", "Answer: 42 apples", GR_ANSWER_NUMBER, "42"},
    {"number-6", "0.50", GR_ANSWER_NUMBER, "0.5"},
    {"number-7", "-0", GR_ANSWER_NUMBER, "0"},
    {"number-8", "version 1.2.3", GR_ANSWER_NUMBER, "123"},
    {"yesno-1", "Yes, it is.", GR_ANSWER_YESNO, "yes"},
    {"yesno-2", "Reasoning...\nanswer: FALSE", GR_ANSWER_YESNO, "no"},
    {"yesno-3", "Nope", GR_ANSWER_TEXT, "nope"},
    {"text-1", "I think...\n\n  Paris!  ", GR_ANSWER_TEXT, "paris"},
    {"text-2", "The answer is: The   Eiffel-Tower.", GR_ANSWER_TEXT, "the eiffel tower"},
    {"code-1", "Here:\n```python\ndef f(): return 1\n```\nAnswer: 1", GR_ANSWER_CODE, ""},
    {"none-1", "   \n\t ", GR_ANSWER_NONE, ""},
    {"none-2", "?!", GR_ANSWER_NONE, ""},
    {"boxed-unbalanced", "\\boxed{12", GR_ANSWER_TEXT, "boxed 12"},
};

static void test_final_answer(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_answers / sizeof k_answers[0]; i++) {
        const answer_case *c = &k_answers[i];
        char out[GR_VERIFY_ANSWER_MAX];
        gr_answer_kind k = gr_verify_final_answer(c->text, strlen(c->text), out, sizeof out);
        if (k != c->kind || strcmp(out, c->answer)) {
            fprintf(stderr, "%s: got %s '%s', want %s '%s'\n", c->id, gr_answer_kind_name(k), out,
                    gr_answer_kind_name(c->kind), c->answer);
            fail();
        }
    }
}

/* A long answer is cut at the cap, never past the buffer. */
static void test_final_answer_cap(void **state) {
    (void)state;
    char text[1000], out[GR_VERIFY_ANSWER_MAX + 16];
    for (size_t i = 0; i < sizeof text - 1; i++) text[i] = (i % 5 == 4) ? ' ' : 'w';
    text[sizeof text - 1] = '\0';
    memset(out, 'X', sizeof out);
    assert_int_equal(gr_verify_final_answer(text, strlen(text), out, sizeof out), GR_ANSWER_TEXT);
    assert_true(strlen(out) == GR_VERIFY_ANSWER_MAX - 1 || strlen(out) == GR_VERIFY_ANSWER_MAX - 2); /* at the cap */
    assert_int_equal(out[GR_VERIFY_ANSWER_MAX], 'X'); /* nothing written past it */
    /* cut right after a gap: no trailing space (fuzz finding, regress/verify_agree/text-cut-after-gap) */
    char gap[GR_VERIFY_ANSWER_MAX + 8];
    memset(gap, 'w', GR_VERIFY_ANSWER_MAX - 2);
    snprintf(gap + GR_VERIFY_ANSWER_MAX - 2, 8, " xyz");
    assert_int_equal(gr_verify_final_answer(gap, strlen(gap), out, sizeof out), GR_ANSWER_TEXT);
    assert_int_equal(strlen(out), GR_VERIFY_ANSWER_MAX - 2);
    assert_true(out[strlen(out) - 1] == 'w');
    char tiny[2];
    assert_int_equal(gr_verify_final_answer("B", 1, tiny, sizeof tiny), GR_ANSWER_CHOICE);
    assert_string_equal(tiny, "B");
    assert_int_equal(gr_verify_final_answer("B", 1, tiny, 1), GR_ANSWER_NONE);
    assert_int_equal(gr_verify_final_answer(NULL, 0, out, sizeof out), GR_ANSWER_NONE);
}

typedef struct {
    const char *id, *a, *b;
    gr_agree_mode mode;
    bool agree;
    const char *why;
} agree_case;

static const agree_case k_agree[] = {
    {"mc-same", "B", "The answer is B.", GR_AGREE_NORMALISED, true, "same choice 'B'"},
    {"mc-diff", "B", "C", GR_AGREE_NORMALISED, false, "answers differ"},
    {"num-same", "So the total is 1,200.", "Answer: 1200", GR_AGREE_NORMALISED, true, "same number '1200'"},
    {"num-vs-text", "12", "twelve", GR_AGREE_NORMALISED, false, "answers differ"},
    {"yes-same", "yes", "Yes!", GR_AGREE_NORMALISED, true, "same yes/no 'yes'"},
    {"text-case", "PARIS.", "  paris ", GR_AGREE_NORMALISED, true, "same text 'paris'"},
    {"code", "```c\nint x;\n```", "```c\nint x;\n```", GR_AGREE_NORMALISED, false, "code"},
    {"empty", "", "B", GR_AGREE_NORMALISED, false, "empty"},
    {"exact-same", " Paris\n", "Paris", GR_AGREE_EXACT, true, "same reply"},
    {"exact-case", "Paris", "paris", GR_AGREE_EXACT, false, "replies differ"},
    {"exact-empty", "", "", GR_AGREE_EXACT, false, "empty"},
    {"quote-safe", "It's o'clock", "it s o clock", GR_AGREE_NORMALISED, true, "same text 'it s o clock'"},
};

static void test_agree(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_agree / sizeof k_agree[0]; i++) {
        const agree_case *c = &k_agree[i];
        char why[64];
        bool got = gr_verify_agree(c->a, strlen(c->a), c->b, strlen(c->b), c->mode, why, sizeof why);
        if (got != c->agree || strcmp(why, c->why)) {
            fprintf(stderr, "%s: got %d '%s', want %d '%s'\n", c->id, got, why, c->agree, c->why);
            fail();
        }
    }
    assert_false(gr_verify_agree("B", 1, "B", 1, GR_AGREE_NORMALISED, NULL, 0) == false);
}

static void test_mode_parse(void **state) {
    (void)state;
    gr_agree_mode m = GR_AGREE_EXACT;
    assert_true(gr_agree_mode_parse("normalised", &m));
    assert_int_equal(m, GR_AGREE_NORMALISED);
    assert_true(gr_agree_mode_parse("exact", &m));
    assert_int_equal(m, GR_AGREE_EXACT);
    assert_false(gr_agree_mode_parse("fuzzy", &m));
    assert_false(gr_agree_mode_parse(NULL, &m));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_final_answer),
        cmocka_unit_test(test_final_answer_cap),
        cmocka_unit_test(test_agree),
        cmocka_unit_test(test_mode_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
