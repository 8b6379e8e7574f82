// Playing a case by hand: the page keeps the steps (fire an event as a role, let time
// pass) and the server replays them all on a simulated clock each time (studio/play.py).
const $ = (id) => document.getElementById(id)

function element(tag, text, className) {
  const node = document.createElement(tag)
  if (text !== undefined) node.textContent = text
  if (className) node.className = className
  return node
}

export function startPlay({api, studio, text: T, say, redraw}) {
  let steps = null // null: no case yet
  let roles = []

  async function replay() {
    const role = $("open-role").value || null
    const {ok, data} = await api("POST", "/api/play", {
      name: studio.name(), text: studio.text(), role, steps,
    })
    $("play-error").hidden = ok
    if (!ok) {
      $("play-error").textContent = data.detail || say(T.request_failed, {detail: ""})
      return
    }
    show(data)
    redraw(data.state)
  }

  function show(c) {
    $("play-case").hidden = false
    $("play-now").textContent = c.now_text
    $("play-state").textContent = c.state_label + (c.closed ? " ✓" : "")
    $("play-state").dataset.state = c.state
    const actions = $("play-actions")
    actions.replaceChildren()
    if (!c.actions.length) actions.append(element("p", T.no_actions, "muted"))
    for (const a of c.actions) actions.append(actionForm(a))
    const slas = $("play-slas").tBodies[0]
    slas.replaceChildren()
    for (const s of c.slas) {
      const row = element("tr")
      const band = element("span", s.left_text || s.status_text || s.status, `band band-${s.band}`)
      const cells = [element("td", s.label || s.name), element("td"), element("td", s.deadline_text || "")]
      cells[1].append(band)
      row.append(...cells)
      row.dataset.sla = s.name
      row.dataset.status = s.status
      slas.append(row)
    }
    const timers = $("play-timers")
    timers.replaceChildren(...c.timers.map((t) => element("li", `${t.due_text} · ${t.key}`)))
    const timeline = $("play-timeline")
    timeline.replaceChildren(...c.timeline.map((e) => {
      const li = element("li", undefined, `kind-${e.kind}`)
      li.append(element("span", e.at, "at"), e.text)
      return li
    }))
  }

  function actionForm(a) {
    const form = element("form")
    form.dataset.event = a.event
    const inputs = a.params.map((p) => {
      const label = element("label", p.label + (p.optional ? "" : " *"))
      let input
      if (p.choices && p.choices.length) {
        input = element("select")
        if (p.optional) input.append(new Option("", ""))
        for (const choice of p.choices) input.append(new Option(choice, choice))
      } else {
        input = element("input")
        input.type = p.type === "bool" ? "checkbox" : p.type === "int" || p.type === "number" ? "number" : "text"
      }
      input.name = p.name
      label.append(input)
      form.append(label)
      return {p, input}
    })
    const role = element("select")
    for (const r of a.roles) role.append(new Option(say(T.fire_as, {role: r}), r))
    const button = element("button", `${T.fire}: ${a.label || a.event}`)
    button.type = "submit"
    form.append(role, " ", button)
    form.addEventListener("submit", (e) => {
      e.preventDefault()
      const data = {}
      for (const {p, input} of inputs) {
        if (input.type === "checkbox") data[p.name] = input.checked
        else if (input.value !== "") data[p.name] = input.type === "number" ? Number(input.value) : input.value
      }
      steps.push({fire: a.event, by: role.value, data})
      replay()
    })
    return form
  }

  // The flow's roles, from each diagram: who may open a case, and who may act.
  function know(flowRoles, openers) {
    if (flowRoles.join("\n") === roles.join("\n")) return
    roles = flowRoles
    const select = $("open-role")
    select.replaceChildren(...openers.map((r) => new Option(r, r)))
  }

  // Another flow is in the editor: no case yet, and its scenario files.
  async function reset() {
    steps = null
    roles = []
    $("play-case").hidden = true
    $("play-error").hidden = true
    $("scenario-result").textContent = ""
    const {ok, data} = await api("GET", "/api/files")
    if (!ok) return
    const flow = studio.name().replace(/\.flow$/, "")
    const mine = data.scenarios.filter((s) => s.flow === flow || s.flow === studio.name())
    $("scenario").replaceChildren(...mine.map((s) => new Option(s.name, s.name)))
  }

  $("play-open").addEventListener("click", () => { steps = []; replay() })
  $("play-wait").addEventListener("click", () => {
    if (steps === null) steps = []
    steps.push({wait: $("wait").value.trim()})
    replay()
  })
  $("play-undo").addEventListener("click", () => {
    if (steps && steps.length) { steps.pop(); replay() }
  })
  $("scenario-run").addEventListener("click", async () => {
    const {ok, data} = await api("POST", "/api/scenario", {
      name: studio.name(), text: studio.text(), scenario: $("scenario").value,
    })
    const out = $("scenario-result")
    out.className = ok && data.passed ? "passed" : "failed"
    out.textContent = ok
      ? (data.passed ? T.passed : `${T.failed}: ${data.failures.join("; ")}`)
      : data.detail || ""
    if (ok) { show(data); redraw(data.state) }
  })
  return {know, reset}
}
