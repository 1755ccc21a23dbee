// Prints, for each failed test, the error bun wrote above its "(fail)" line (at most 30 lines),
// from bun's console output (argv[2]): the end of the CI log then says why a test failed,
// whichever part of the log is shown.
const { readFileSync } = require("node:fs");
const lines = readFileSync(process.argv[2], "utf8").split("\n");
const summary = lines.findLastIndex((line) => /^\d+ tests? failed:$/.test(line));
const boundary = /^\((pass|fail|skip|todo)\) |^\S.*\.test\.ts:$/;
for (let i = 0; i < (summary < 0 ? lines.length : summary); i++) {
  if (!lines[i].startsWith("(fail) ")) continue;
  let start = i;
  while (start > 0 && start > i - 30 && !boundary.test(lines[start - 1])) start--;
  console.log(`--- ${lines[i]}`);
  console.log(lines.slice(start, i).join("\n"));
}
