/* glueq: command-line entry point; dispatches to the subcommands in harness/. */
#include <stdio.h>
int main(void) { puts("glueq: under construction"); return 0; }
