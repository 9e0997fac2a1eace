import type { Command } from "commander";
import type { Output } from "./output.js";

/** `kiln completion bash`: a bash completion script for the commands and options as they are now. */
export function completionCommand(program: Command, output: () => Output): void {
  program
    .command("completion")
    .description("print a bash completion script for kiln's commands and options: source <(kiln completion bash), or save it to ~/.local/share/bash-completion/completions/kiln")
    .argument("[shell]", "bash (the only one for now)", "bash")
    .action((shell: string) => {
      if (shell !== "bash") throw new Error(`completion is for bash, not ${shell}`);
      output().out.write(bashCompletion(program));
    });
}

/**
 * The script completes command names (any word not an option before the command), then the
 * command's options; arguments are left to bash's own completion (file names). Command
 * names hold ":", which bash splits words at, so the script reads the line itself and hands
 * back what follows the last ":" of the word.
 */
export function bashCompletion(program: Command): string {
  const optionsOf = (command: Command) => [...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)), "--help"].join(" ");
  const commands = program.commands.filter((c) => c.name() !== "help");
  const cases = commands.map((c) => `    ${c.name()}) candidates="${optionsOf(c)}" ;;`).join("\n");
  return `# kiln completion for bash: source <(kiln completion bash)
_kiln() {
  local line=\${COMP_LINE:0:COMP_POINT} cur="" cmd="" skip="" word candidates
  local -a words
  read -ra words <<< "$line"
  if [[ $line != *" " ]]; then cur=\${words[-1]}; unset 'words[-1]'; fi
  for word in "\${words[@]:1}"; do
    if [[ -n $skip ]]; then skip=""; continue; fi
    case $word in
      --url) skip=1 ;;
      -*) ;;
      *) cmd=$word; break ;;
    esac
  done
  case $cmd in
    "") candidates="${commands.map((c) => c.name()).join(" ")} ${optionsOf(program)} --version" ;;
${cases}
    *) candidates="" ;;
  esac
  # After the command, a word that is not an option is an argument: bash completes file names.
  if [[ -n $cmd && $cur != -* ]]; then COMPREPLY=(); return; fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
  if [[ $cur == *:* ]]; then
    local before=\${cur%"\${cur##*:}"}
    COMPREPLY=("\${COMPREPLY[@]#"$before"}")
  fi
}
complete -o default -F _kiln kiln
`;
}
