import type { Command } from "commander";
import type { Output } from "./output.js";

const SCRIPTS: Record<string, (program: Command) => string> = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion };

/** `kiln completion bash|zsh|fish`: a completion script for the commands and options as they are now. */
export function completionCommand(program: Command, output: () => Output): void {
  program
    .command("completion")
    .description(
      "print a completion script for kiln's commands and options: bash, source <(kiln completion bash) or save it to ~/.local/share/bash-completion/completions/kiln; zsh, source <(kiln completion zsh) after compinit, or save it as _kiln in a folder of $fpath; fish, kiln completion fish > ~/.config/fish/completions/kiln.fish",
    )
    .argument("[shell]", "bash, zsh or fish", "bash")
    .action((shell: string) => {
      const script = SCRIPTS[shell];
      if (!script) throw new Error(`completion is for ${Object.keys(SCRIPTS).join(", ")}, not ${shell}`);
      output().out.write(script(program));
    });
}

/**
 * Shell lines, the same in bash and zsh, that find the command among the words before the
 * one being completed (each in turn in `word`): the first that is neither an option nor
 * --url's value.
 */
const FIND_COMMAND = `    if [[ -n $skip ]]; then skip=""; continue; fi
    case $word in
      --url) skip=1 ;;
      -*) ;;
      *) cmd=$word; break ;;
    esac`;

/** A command's options, long and short, and --help. */
function optionsOf(command: Command): string[] {
  return [...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)), "--help"];
}

/** The commands a script offers (commander's own help command left out). */
function commandsOf(program: Command): Command[] {
  return program.commands.filter((c) => c.name() !== "help");
}

/**
 * The script completes command names (any word not an option before the command), then the
 * command's options; arguments are left to bash's own completion (file names). Command
 * names hold ":", which bash splits words at, so the script reads the line itself and hands
 * back what follows the last ":" of the word.
 */
export function bashCompletion(program: Command): string {
  const commands = commandsOf(program);
  const cases = commands.map((c) => `    ${c.name()}) candidates="${optionsOf(c).join(" ")}" ;;`).join("\n");
  return `# kiln completion for bash: source <(kiln completion bash)
_kiln() {
  local line=\${COMP_LINE:0:COMP_POINT} cur="" cmd="" skip="" word candidates
  local -a words
  read -ra words <<< "$line"
  if [[ $line != *" " ]]; then cur=\${words[-1]}; unset 'words[-1]'; fi
  for word in "\${words[@]:1}"; do
${FIND_COMMAND}
  done
  case $cmd in
    "") candidates="${commands.map((c) => c.name()).join(" ")} ${optionsOf(program).join(" ")} --version" ;;
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

/**
 * The zsh script completes command names with their descriptions (zsh keeps ":" in a
 * word; _describe needs it escaped in a name), then the command's options when the word
 * starts with "-", and file names for its arguments. It works sourced (after compinit) or
 * autoloaded from $fpath as _kiln, as cobra's scripts do.
 */
export function zshCompletion(program: Command): string {
  const quoted = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const commands = commandsOf(program);
  const described = commands.map((c) => `    ${quoted(`${c.name().replaceAll(":", "\\:")}:${summary(c.description())}`)}`).join("\n");
  const cases = commands.map((c) => `    ${c.name()}) options=(${optionsOf(c).join(" ")}) ;;`).join("\n");
  return `#compdef kiln
# kiln completion for zsh: source <(kiln completion zsh) after compinit, or save it as _kiln in a folder of $fpath
_kiln() {
  local -a commands options
  local cmd="" skip="" word
  commands=(
${described}
  )
  for word in "\${(@)words[2,CURRENT-1]}"; do
${FIND_COMMAND}
  done
  case $cmd in
    "") options=(${optionsOf(program).join(" ")} --version) ;;
${cases}
    *) options=() ;;
  esac
  if [[ $PREFIX == -* ]]; then compadd -a options; return; fi
  if [[ -z $cmd ]]; then _describe -t commands 'kiln command' commands; else _files; fi
}
if [[ "\${funcstack[1]}" == "_kiln" ]]; then _kiln "$@"; else compdef _kiln kiln; fi
`;
}

/**
 * The fish script: command names with their descriptions until a command is typed (and
 * the global options), then the command's options with theirs. Arguments are left to
 * fish's own completion (file names). __kiln_command finds the command as the bash and
 * zsh scripts do: the first word that is neither an option nor --url's value.
 */
export function fishCompletion(program: Command): string {
  const quoted = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  const optionLines = (command: Command, condition: string) =>
    command.options.map((o) => {
      const flags = [o.long && `-l ${o.long.replace(/^--/, "")}`, o.short && `-s ${o.short.replace(/^-/, "")}`].filter(Boolean).join(" ");
      return `complete -c kiln -n ${quoted(condition)} ${flags}${o.required || o.optional ? " -r" : ""} -d ${quoted(o.description.replace(/\s+/g, " ").trim())}`;
    });
  const commands = commandsOf(program);
  return [
    "# kiln completion for fish: kiln completion fish > ~/.config/fish/completions/kiln.fish",
    "function __kiln_command",
    "    set -l skip 0",
    "    for word in (commandline -opc)[2..-1]",
    "        if test $skip = 1",
    "            set skip 0",
    "            continue",
    "        end",
    "        switch $word",
    "            case --url",
    "                set skip 1",
    "            case '-*'",
    "            case '*'",
    "                echo $word",
    "                return 0",
    "        end",
    "    end",
    "    return 1",
    "end",
    "function __kiln_command_is",
    "    set -l cmd (__kiln_command)",
    "    and test \"$cmd\" = \"$argv[1]\"",
    "end",
    ...commands.map((c) => `complete -c kiln -n 'not __kiln_command' -f -a ${quoted(c.name())} -d ${quoted(summary(c.description()))}`),
    ...optionLines(program, "not __kiln_command"),
    "complete -c kiln -n 'not __kiln_command' -l version -d 'print the version'",
    ...commands.flatMap((c) => optionLines(c, `__kiln_command_is ${c.name()}`)),
    "",
  ].join("\n");
}

/** A command's description up to its first ":" (what follows is how to use it), on one line. */
function summary(description: string): string {
  return description.split(":")[0]!.replace(/\s+/g, " ").trim();
}
