// Highlighting for .flow text: comments, strings, keywords, arrows, numbers and durations.
import {StreamLanguage} from "@codemirror/language"

const KEYWORDS = new Set((
  "flow version calendar roles fields keys opened state final on when by after every at most " +
  "times enter exit set notify escalate to assign record callback emit task within overdue " +
  "wait if else sla from until pause warn before breach table schedule summary open case " +
  "catch up and or not in is null true false now working days hours"
).split(" "))

export const flowLanguage = StreamLanguage.define({
  name: "flow",
  startState: () => ({}),
  token(stream) {
    if (stream.eatSpace()) return null
    if (stream.match("#")) { stream.skipToEnd(); return "comment" }
    if (stream.match(/^"([^"\\]|\\.)*"?/)) return "string"
    if (stream.match("->")) return "operator"
    if (stream.match(/^\d+(\.\d+)?(m|h|d|w|min)?\b/)) return "number"
    if (stream.match(/^[\p{L}_][\p{L}\p{N}_]*/u)) {
      return KEYWORDS.has(stream.current()) ? "keyword" : "variableName"
    }
    stream.next()
    return null
  },
  languageData: {commentTokens: {line: "#"}},
})
