/* main.c — command line entry point. */
#include <stdio.h>
int main(void) { puts("gaterouter"); return 0; }
