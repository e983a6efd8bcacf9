#!/usr/bin/env bash
# Generates glueq's man page (glueq.1) and bash completion (glueq.bash) from the --help
# texts of the built binary, so that both always list the commands and flags the binary
# really has. Run by the build (CMake target gq_docs):
#   scripts/gen_docs.sh path/to/glueq OUTDIR
set -euo pipefail
glueq=$1
out=$2

# The subcommands: the indented lines under "commands:" in `glueq --help`.
commands=$("$glueq" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$commands" ] || { echo "gen_docs.sh: no commands in '$glueq --help'" >&2; exit 1; }
version=$("$glueq" --version | awk 'NR == 1 { print $2 }')
eval_help=$("$glueq" eval --help)

# Help text as roff: backslashes and hyphens escaped, control characters at line starts defused.
roff_text() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

write_man() {
    printf '.TH GLUEQ 1 "" "glueq %s" "User Commands"\n' "$version"
    printf '.SH NAME\nglueq \\- GLUE benchmarking and weight\\-saliency quantization harness\n'
    printf '.SH SYNOPSIS\n.B glueq\n.I COMMAND\n.RI [ OPTIONS ]\n.br\n.B glueq \\-\\-version\n'
    printf '.SH DESCRIPTION\n'
    printf 'glueq evaluates DistilBERT classifiers on GLUE tasks and quantizes their encoder with a\n'
    printf 'saliency method that keeps the most salient weights in FP32. Every command has \\fB\\-\\-help\\fR.\n'
    printf '.SH COMMANDS\n'
    "$glueq" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print }' |
        while read -r name what; do
            printf '.TP\n.B %s\n' "$name"
            printf '%s\n' "$what" | roff_text
        done
    for c in $commands; do
        printf '.SS "glueq %s"\n.nf\n' "$c"
        "$glueq" "$c" --help | roff_text
        printf '.fi\n'
    done
    printf '.SH EXIT STATUS\n0 success, 1 bad input or failure (one line on stderr naming the file and the problem),\n'
    printf '2 usage error; \\fBglueq compare \\-\\-fail\\-if\\-worse\\fR exits 3 when B is significantly worse.\n'
    printf '.SH SEE ALSO\nThe README and docs/ of the glueq source tree.\n'
}

# The flags of a command: the first word of each option line of its --help (the command
# table prints one line per flag it accepts), sorted and unique, on one line.
flags_of() { "$glueq" "$1" --help | sed -n 's/^  \(--[a-z][a-z0-9-]*\).*/\1/p' | sort -u | tr '\n' ' '; }

write_completion() {
    local tasks methods
    tasks=$(printf '%s\n' "$eval_help" | grep -o -- '--task {[a-z0-9,]*}' | head -1 | sed 's/.*{\(.*\)}/\1/; s/,/ /g')
    methods=$(printf '%s\n' "$eval_help" | grep -o -- '--method {[a-z,]*}' | head -1 | sed 's/.*{\(.*\)}/\1/; s/,/ /g')
    cat <<HEAD
# bash completion for glueq $version (generated from its --help texts by scripts/gen_docs.sh)
_glueq() {
    local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} flags=
    if [ "\$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=(\$(compgen -W "$(echo $commands) --help --version" -- "\$cur"))
        return
    fi
    case \$prev in
        --task) COMPREPLY=(\$(compgen -W "$tasks" -- "\$cur")); return ;;
        --method) COMPREPLY=(\$(compgen -W "$methods" -- "\$cur")); return ;;
    esac
    case \${COMP_WORDS[1]} in
HEAD
    for c in $commands; do
        printf '        %s) flags="%s" ;;\n' "$c" "$(flags_of "$c")"
    done
    cat <<'TAIL'
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _glueq glueq
TAIL
}

write_man >"$out/glueq.1.tmp" && mv "$out/glueq.1.tmp" "$out/glueq.1"
write_completion >"$out/glueq.bash.tmp" && mv "$out/glueq.bash.tmp" "$out/glueq.bash"
