# Types each line into an interactive zsh (on a pseudo-terminal, zsh's zpty), presses Tab,
# then goes to the line's start and makes it `print` what the line became: what zsh's own
# completion system (compinit) did with the completion script, as a user at a prompt sees it.
# Usage: zsh -f zsh-complete.zsh SCRIPT FOLDER LINE...   (prints "DONE: <line>" for each)
zmodload zsh/zpty
script=$1 folder=$2
shift 2
zpty z 'zsh -f -i'
# Emacs keys whatever $EDITOR says (zsh picks vi keys when it names vi), for Ctrl-A.
# kiln itself is a function that does nothing: a line that ran by mistake runs nothing.
zpty -w z "PS1='> '; bindkey -e; kiln() { print -r -- RAN: kiln \"\$@\"; }; autoload -Uz compinit; compinit -u -D; source ${(q)script}; cd ${(q)folder}"
for line in "$@"; do
  zpty -w -n z "$line"$'\t\C-aprint -r -- DONE: \n'
done
all=""
deadline=$((SECONDS + 20))
while (( SECONDS < deadline )); do
  if zpty -r -t z chunk; then all+=$chunk; else sleep 0.1; fi
  done_lines=(${(M)${(f)all//$'\r'/}:#DONE: *})
  (( ${#done_lines} >= $# )) && break
done
zpty -d z
print -r -- "$all"
