// The back office's pages, in Chinese and English, over the box's JSON API (docs/office-api.yaml).
"use strict";

const WORDS = {
  en: {
    monitor: "Monitor", queue: "Queue", reports: "Reports", keypad: "Keypad", devices: "Devices",
    users: "Users", "sign-out": "Sign out", language: "中文", "sign-in": "Sign in",
    name: "Name", password: "Password", code: "Setup code (printed at the box)",
    setup: "Set an admin password", "setup-done": "Done: sign in with the new password.",
    service: "Service", waiting: "Waiting", "longest-wait": "Longest wait",
    estimate: "A new ticket waits", alarms: "Alarms", counter: "Counter", teller: "Teller",
    ticket: "Ticket", since: "For", paused: "paused", closed: "closed", open: "Open",
    close: "Close", pause: "Pause", resume: "Resume", logout: "Log out", up: "Up",
    down: "Down", front: "Front", back: "Back", prioritise: "Priority", cancel: "Cancel",
    transfer: "Transfer to", issue: "Issue a ticket", vip: "priority", issued: "Issued",
    days: "Days (today, 2026-11, 2026-11-01..2026-11-23)", show: "Show", csv: "CSV",
    by: "By", served: "Served", "average-wait": "Average wait", "no-shows": "No-shows",
    ratings: "Ratings (very satisfied / satisfied / dissatisfied)", device: "Device",
    state: "State", role: "Role", add: "Add", remove: "Remove", token: "New API token",
    "token-shown": "Copy it now; it is not shown again:", send: "Send", "teller-id": "Teller",
    pin: "PIN", rate: "Rate", nobody: "nobody", label: "Label", call: "Call",
    recall: "Recall", start: "Start", skip: "Skip", finish: "Finish", login: "Log in",
    configuration: "Configuration", save: "Check and apply", applied: "Applied.",
    download: "Download the file", stick: "Signed files for a USB stick (zip)",
    "next-start": "these take effect at the next start",
    playlist: "Playlist", kind: "Kind", item: "Text or file", seconds: "Seconds",
    "days-of-week": "Weekdays (1 Monday … 7)", hours: "Hours (08:30-12:00)",
    "first-day": "From", "last-day": "Until", "add-text": "Add the text",
    "add-file": "Add the image or video", "playlist-note":
      "The hall screens show these in turn; texts also scroll on the wall when no call shows.",
    update: "System update (a RAUC bundle, .raucb)", install: "Install",
    installing: "Sending and installing: this takes minutes…",
    installed: "Installed: the box restarts to try the new system.",
    "no-answer": "No answer: the box may be restarting into the new system.",
    nurse: "Nurse station", department: "Department", "check-in-key": "Ticket or appointment number",
    "check-in": "Check in", "checked-in": "Checked in", rooms: "Rooms", doctor: "Doctor",
    "in-room": "In the room", "at-door": "At the door", "doctor-login": "Log a doctor in (keypad)",
    "dept-queue": "Waiting, in calling order", registered: "Registered, not checked in",
    held: "Held", hold: "Hold", release: "Release", leave: "Left: remove",
    "to-room": "To a room's door", "to-queue": "Back to the queue", "any-room": "Back to the queue (any room)",
    assign: "Doctor…", "any-doctor": "Any doctor", "send-to": "Send on to", called: "called",
    serving: "serving", returning: "back from tests", patient: "Patient", waited: "Waited",
    departments: "Departments", staff: "Doctor or staff", patients: "Patients", seen: "Seen",
    missed: "Missed (checked in again)", left: "Left unseen", returns: "Returns after tests",
    "average-consultation": "Average consultation", "longest-consultation": "Longest consultation",
    "whole-visit": "Whole visit, registration to pharmacy", collected: "Collected at the pharmacy",
    "left-visit": "Left", "still-open": "Still in the queues", "average-stay": "Average stay",
    "median-stay": "Median stay", "longest-stay": "Longest stay", "hospital-csv": "CSV (departments)",
  },
  zh: {
    monitor: "监控", queue: "队列", reports: "报表", keypad: "虚拟键盘", devices: "设备",
    users: "用户", "sign-out": "退出", language: "English", "sign-in": "登录",
    name: "用户名", password: "密码", code: "设置码（在设备上打印）", setup: "设置管理员密码",
    "setup-done": "完成：请用新密码登录。", service: "业务", waiting: "等候人数",
    "longest-wait": "最长等候", estimate: "新票预计等候", alarms: "告警", counter: "窗口",
    teller: "柜员", ticket: "号码", since: "持续", paused: "暂停", closed: "已关闭",
    open: "开放", close: "关闭", pause: "暂停", resume: "恢复", logout: "签退", up: "上移",
    down: "下移", front: "置顶", back: "置底", prioritise: "优先", cancel: "取消",
    transfer: "转移到", issue: "取号", vip: "优先", issued: "已取号",
    days: "日期（today、2026-11、2026-11-01..2026-11-23）", show: "查看", csv: "CSV",
    by: "按", served: "已办理", "average-wait": "平均等候", "no-shows": "过号",
    ratings: "评价（非常满意 / 满意 / 不满意）", device: "设备", state: "状态", role: "角色",
    add: "添加", remove: "删除", token: "新 API 令牌", "token-shown": "请立即复制，之后不再显示：",
    send: "发送", "teller-id": "柜员号", pin: "密码", rate: "评价", nobody: "无",
    label: "名称", call: "呼叫", recall: "重呼", start: "开始办理", skip: "过号",
    finish: "完成", login: "签到",
    configuration: "配置", save: "检查并应用", applied: "已应用。", download: "下载配置文件",
    stick: "U 盘签名文件（zip）", "next-start": "这些更改在下次启动时生效",
    playlist: "信息发布", kind: "类型", item: "文字或文件", seconds: "秒数",
    "days-of-week": "星期（1 周一 … 7）", hours: "时段（08:30-12:00）", "first-day": "开始日期",
    "last-day": "结束日期", "add-text": "添加文字", "add-file": "添加图片或视频",
    "playlist-note": "大厅屏幕轮流显示以下内容；没有叫号时，文字也在墙上的屏幕滚动显示。",
    update: "系统更新（RAUC 更新包 .raucb）", install: "安装", installing: "正在上传并安装，需要几分钟……",
    installed: "已安装：设备将重新启动并试用新系统。", "no-answer": "无应答：设备可能正在重新启动进入新系统。",
    nurse: "护士站", department: "科室", "check-in-key": "号码或预约号", "check-in": "分诊签到",
    "checked-in": "已签到", rooms: "诊室", doctor: "医生", "in-room": "诊室内", "at-door": "门口候诊",
    "doctor-login": "医生登录（虚拟键盘）", "dept-queue": "候诊（按叫号顺序）", registered: "已挂号，未签到",
    held: "暂缓叫号", hold: "暂缓", release: "恢复叫号", leave: "已离开：移除", "to-room": "到诊室门口",
    "to-queue": "回到候诊队列", "any-room": "回到候诊队列（任意诊室）", assign: "指定医生",
    "any-doctor": "任意医生", "send-to": "转到", called: "已呼叫", serving: "就诊中", returning: "检查后复诊",
    patient: "患者", waited: "已等候",
    departments: "科室", staff: "医生或工作人员", patients: "患者人数", seen: "已就诊",
    missed: "过号（重新签到）", left: "未就诊离开", returns: "检查后复诊",
    "average-consultation": "平均就诊时长", "longest-consultation": "最长就诊时长",
    "whole-visit": "全程：挂号至取药", collected: "已取药", "left-visit": "中途离开", "still-open": "仍在排队",
    "average-stay": "平均停留时长", "median-stay": "停留时长中位数", "longest-stay": "最长停留时长",
    "hospital-csv": "CSV（科室）",
  },
};
let lang = localStorage.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key) => WORDS[lang][key] || key;
let me = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (me && me.csrf) headers["X-CSRF-Token"] = me.csrf;
  const response = await fetch(path, { method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.headers.get("Content-Type", "").includes("json") ? await response.json() : {};
  if (!response.ok) {
    const error = new Error(data.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;
}

function say(where, text, ok = false) {
  where.replaceChildren(el("p", { class: ok ? "ok" : "error", role: "status" }, text));
}

function live(render) {
  // Re-read after every committed event; EventSource reconnects by itself with Last-Event-ID.
  let pending = null;
  const source = new EventSource("/api/events");
  source.onmessage = () => { clearTimeout(pending); pending = setTimeout(render, 100); };
  source.addEventListener("reload", () => location.reload());
  return render();
}

function allowedPages() {   // the pages the signed-in user may open, the first their home
  return !me ? [] : me.role === "teller" ? ["keypad"]
    : ["monitor", "queue", ...(me.hospital ? ["nurse"] : []), "reports", "keypad", "devices", "playlist"]
      .concat(me.role === "admin" ? ["users", "configuration"] : []);
}

function nav(page) {
  const links = allowedPages();
  document.getElementById("nav").replaceChildren(
    ...links.map((name) => el("a", { href: `/${name}`, class: name === page ? "here" : null }, t(name))),
    el("span", { class: "right" },
      el("button", { id: "language", onclick: () => {
        lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("lang", lang); location.reload();
      } }, t("language")),
      me ? el("button", { id: "sign-out", onclick: async () => {
        await api("POST", "/api/sign-out", {}); location.href = "/sign-in";
      } }, `${t("sign-out")} (${me.name})`) : null));
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

// -- pages ------------------------------------------------------------------------------------

const PAGES = {};

PAGES["sign-in"] = (main) => {
  const message = el("div");
  const form = el("form", { id: "sign-in", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const who = await api("POST", "/api/sign-in", { name: form.name.value, password: form.password.value });
      location.href = who.role === "teller" ? "/keypad" : "/monitor";
    } catch (error) { say(message, error.message); }
  } },
  el("label", {}, t("name"), el("input", { name: "name", autocomplete: "username", required: true })),
  el("label", {}, t("password"), el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  el("button", { type: "submit" }, t("sign-in")));
  main.replaceChildren(el("h1", {}, t("sign-in")), form, message, el("p", {}, el("a", { href: "/setup" }, t("setup"))));
};

PAGES.setup = (main) => {
  const message = el("div");
  const form = el("form", { id: "setup", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/api/setup", { code: form.code.value, name: form.name.value, password: form.password.value });
      say(message, t("setup-done"), true);
    } catch (error) { say(message, error.message); }
  } },
  el("label", {}, t("code"), el("input", { name: "code", required: true, autocomplete: "off" })),
  el("label", {}, t("name"), el("input", { name: "name", required: true, autocomplete: "username" })),
  el("label", {}, t("password"), el("input", { name: "password", type: "password", minlength: 10, required: true, autocomplete: "new-password" })),
  el("button", { type: "submit" }, t("setup")));
  main.replaceChildren(el("h1", {}, t("setup")), form, message, el("p", {}, el("a", { href: "/sign-in" }, t("sign-in"))));
};

PAGES.monitor = (main) => live(async () => {
  const m = await api("GET", "/api/monitor");
  const name = (s) => (lang === "zh" ? s.name_zh || s.name_en : s.name_en);
  main.replaceChildren(
    el("h1", {}, `${t("monitor")} ${m.day}`),
    el("table", { id: "services" },
      el("tr", {}, ...["service", "waiting", "longest-wait", "estimate", "alarms"].map((k) => el("th", {}, t(k)))),
      m.services.map((s) => el("tr", { "data-service": s.prefix, class: s.closed ? "closed" : null },
        el("td", {}, `${s.prefix} ${name(s)}${s.closed ? ` (${t("closed")})` : ""}`),
        el("td", { class: "waiting" }, String(s.waiting)), el("td", {}, minutes(s.longest_wait)),
        el("td", {}, minutes(s.estimate)), el("td", { class: "alarm" }, s.alarms.join("; "))))),
    el("table", { id: "counters" },
      el("tr", {}, ...["counter", "teller", "ticket", "since", "waiting", "alarms"].map((k) => el("th", {}, t(k)))),
      m.counters.map((c) => el("tr", { "data-counter": c.number },
        el("td", {}, `${c.number} ${c.name}${c.paused ? ` (${t("paused")})` : ""}`),
        el("td", {}, c.teller || "–"), el("td", { class: "ticket" }, c.ticket ? `${c.ticket} ${c.state}` : "–"),
        el("td", {}, minutes(c.since)), el("td", {}, String(c.waiting)),
        el("td", { class: "alarm" }, c.alarms.join("; "))))));
});

PAGES.queue = (main) => {
  const message = el("div", { id: "message" });
  const act = (path, body = {}) => api("POST", path, body).then(() => message.replaceChildren(), (error) => say(message, error.message));
  return live(async () => {
    const [q, m] = await Promise.all([api("GET", "/api/queue"), api("GET", "/api/monitor")]);
    const services = m.services.map((s) => s.prefix);
    const issueForm = el("form", { id: "issue", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const ticket = await api("POST", "/api/tickets", { service: issueForm.service.value, vip: issueForm.vip.checked });
        say(message, `${t("issued")}: ${ticket.label}`, true);
      } catch (error) { say(message, error.message); }
    } }, el("select", { name: "service" }, services.map((p) => el("option", { value: p }, p))),
    el("label", {}, el("input", { type: "checkbox", name: "vip" }), t("vip")),
    el("button", { type: "submit" }, t("issue")));
    main.replaceChildren(el("h1", {}, t("queue")), message, issueForm,
      ...m.services.map((s) => el("section", { "data-service": s.prefix },
        el("h2", {}, `${s.prefix} ${lang === "zh" ? s.name_zh : s.name_en} `,
          el("button", { class: "service-state", onclick: () => act(`/api/services/${s.prefix}/${s.closed ? "open" : "close"}`) },
            t(s.closed ? "open" : "close"))),
        el("table", { class: "tickets" }, (q.services[s.prefix] || []).map((ticket) => el("tr", { "data-label": ticket.label },
          el("td", { class: "label" }, ticket.label + (ticket.vip ? " ★" : "")), el("td", {}, minutes(ticket.waited)),
          el("td", {}, ...["up", "down", "front", "back"].map((where) =>
            el("button", { class: `move-${where}`, onclick: () => act(`/api/tickets/${ticket.label}/move`, { where }) }, t(where))),
          ticket.vip ? null : el("button", { class: "prioritise", onclick: () => act(`/api/tickets/${ticket.label}/prioritise`) }, t("prioritise")),
          el("button", { class: "cancel", onclick: () => act(`/api/tickets/${ticket.label}/cancel`) }, t("cancel")),
          el("select", { class: "transfer", onchange: (event) => act(`/api/tickets/${ticket.label}/transfer`, { service: event.target.value }) },
            el("option", { value: "" }, t("transfer")), services.filter((p) => p !== s.prefix).map((p) => el("option", { value: p }, p))))))))),
      el("h2", {}, t("counter")),
      el("table", { id: "counters" }, m.counters.map((c) => el("tr", { "data-counter": c.number },
        el("td", {}, `${c.number} ${c.name}`), el("td", {}, c.teller || "–"),
        el("td", {}, ...["pause", "resume", "logout"].map((action) =>
          el("button", { class: action, onclick: () => act(`/api/counters/${c.number}/${action}`) }, t(action))))))));
  });
};

PAGES.reports = (main) => {
  const result = el("div", { id: "report" });
  const form = el("form", { id: "days", onsubmit: (event) => { event.preventDefault(); show(); } },
    el("label", {}, t("days"), el("input", { name: "days", value: "today" })),
    el("button", { type: "submit" }, t("show")));
  async function show() {
    const days = encodeURIComponent(form.days.value);
    try {
      const r = await api("GET", `/api/reports?days=${days}`);
      result.replaceChildren(el("h2", {}, `${r.first} – ${r.last}`),
        el("a", { href: `/api/reports.csv?days=${days}`, id: "csv" }, t("csv")),
        ...Object.entries(r.figures).map(([by, rows]) => el("table", { class: "figures", "data-by": by },
          el("tr", {}, ...[t("by") + " " + by, t("issued"), t("served"), t("average-wait"), t("no-shows"), t("ratings")].map((k) => el("th", {}, k))),
          Object.entries(rows).map(([key, f]) => el("tr", {}, el("td", {}, key), el("td", {}, String(f.issued)),
            el("td", {}, String(f.served)), el("td", {}, minutes(f.average_wait)), el("td", {}, String(f.no_shows)),
            el("td", {}, f.ratings.join(" / ")))))),
        r.hospital ? departments(r.hospital, days) : null,
        ...["hourly", "waits", "ratings"].map((chart) => el("img", { class: "chart", id: `chart-${chart}`, alt: chart, src: `/api/charts/${chart}.svg?days=${days}` })));
    } catch (error) { say(result, error.message); }
  }
  main.replaceChildren(el("h1", {}, t("reports")), form, result);
  return show();
};

function departments(h, days) {
  // A hospital's figures: per stage, per doctor (or window's staff) and the whole visit.
  const head = (...keys) => el("tr", {}, ...keys.map((key) => el("th", {}, t(key))));
  const cells = (...values) => values.map((value) => el("td", {}, value));
  const row = (f) => cells(String(f.patients), String(f.seen), `${f.missed} (${f.checked_in_again})`, String(f.left),
    String(f.returns), minutes(f.average_wait), minutes(f.longest_wait), minutes(f.average_consultation), minutes(f.longest_consultation));
  const columns = ["patients", "seen", "missed", "left", "returns", "average-wait", "longest-wait", "average-consultation", "longest-consultation"];
  const v = h.visits;
  return el("section", { id: "departments" },
    el("h2", {}, t("departments")),
    el("a", { href: `/api/reports/hospital.csv?days=${days}`, id: "hospital-csv" }, t("hospital-csv")),
    el("table", { id: "stages" }, head("department", ...columns),
      Object.entries(h.stages).map(([key, s]) => el("tr", { "data-stage": key }, el("td", {}, `${key} ${s.name_zh} ${s.name_en}`), row(s)))),
    el("table", { id: "doctors" }, head("staff", ...columns),
      Object.entries(h.doctors).map(([key, d]) => el("tr", { "data-doctor": key }, el("td", {}, `${key} ${d.name || ""}`), row(d)))),
    el("h3", {}, t("whole-visit")),
    el("table", { id: "visits" }, head("patients", "collected", "left-visit", "still-open", "average-stay", "median-stay", "longest-stay"),
      el("tr", {}, cells(String(v.patients), String(v.collected), String(v.left), String(v.open),
        minutes(v.average_stay), minutes(v.median_stay), minutes(v.longest_stay)))));
}

PAGES.keypad = async (main) => {
  const counters = me.role === "teller" ? [me.counter] : (await api("GET", "/api/monitor")).counters.map((c) => c.number);
  const display = el("div", { class: "display", id: "display" });
  const message = el("div");
  const choose = el("select", { id: "counter", onchange: () => refresh() }, counters.map((n) => el("option", { value: n }, `${t("counter")} ${n}`)));
  const asked = Number(new URLSearchParams(location.search).get("counter"));   // (the nurse station's link)
  if (counters.includes(asked)) choose.value = String(asked);
  const words = el("input", { id: "words", placeholder: "B | @2 | T01 1111" });
  const counter = () => choose.value;
  const refresh = async () => { display.textContent = (await api("GET", `/api/keypads/${counter()}`)).text; };
  function newId() {   // crypto.randomUUID needs HTTPS; getRandomValues works on a plain LAN page too
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  async function press(key, args = []) {
    const body = { key, words: args, request: newId() };
    for (let attempt = 0; attempt < 3; attempt++) {   // the same id: applied once however often sent
      try {
        display.textContent = (await api("POST", `/api/keypads/${counter()}`, body)).text;
        message.replaceChildren();
        return;
      } catch (error) {
        if (error.status) { say(message, error.message); return; }
      }
    }
    say(message, "no answer from the box");
  }
  const keys = ["call", "recall", "start", "skip", "finish", "pause", "resume", "logout"].map((key) =>
    el("button", { class: `key-${key}`, onclick: () => press(key) }, t(key)));
  keys.push(el("button", { class: "key-login", onclick: () => press("login", words.value.split(/\s+/).filter(Boolean)) }, t("login")),
    el("button", { class: "key-transfer", onclick: () => press("transfer", words.value.split(/\s+/).filter(Boolean)) }, t("transfer")),
    ...[1, 2, 3].map((n) => el("button", { class: `key-rate-${n}`, onclick: () => press("rate", [String(n)]) }, `${t("rate")} ${n}`)));
  main.replaceChildren(el("h1", {}, t("keypad")), choose, display, words, el("div", { class: "keypad" }, keys), message);
  return live(refresh);
};

PAGES.nurse = (main) => {
  // One department's patients by stage and room, full names (staff only); every action is a
  // change through the loop, refused with the hall's reason.
  const message = el("div", { id: "message" });
  const board = el("div", { id: "board" });
  const name = (s) => (lang === "zh" ? s.name_zh || s.name_en : s.name_en);
  let department = new URLSearchParams(location.search).get("department") || localStorage.getItem("department") || "";
  const act = (path, body = {}) => api("POST", path, body).then(() => message.replaceChildren(), (error) => say(message, error.message));
  const choose = el("select", { id: "department", onchange: () => {
    department = choose.value;
    localStorage.setItem("department", department);
    history.replaceState(null, "", `/nurse?department=${encodeURIComponent(department)}`);
    render();
  } });
  const checkIn = el("form", { id: "check-in", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const ticket = await api("POST", "/api/nurse/check-in", { key: checkIn.key.value.trim() });
      say(message, `${t("checked-in")}: ${ticket.label}`, true);
      checkIn.reset();
    } catch (error) { say(message, error.message); }
  } }, el("label", {}, t("check-in-key"), el("input", { name: "key", required: true, maxlength: 100, autocomplete: "off" })),
  el("button", { type: "submit" }, t("check-in")));
  main.replaceChildren(el("h1", {}, t("nurse")), el("label", {}, `${t("department")} `, choose), checkIn, message, board);

  async function read() {
    try {
      return await api("GET", `/api/nurse${department ? `?department=${encodeURIComponent(department)}` : ""}`);
    } catch (error) {
      if (error.status !== 404 || !department) throw error;
      department = "";   // one no longer configured: the first
      localStorage.removeItem("department");
      return api("GET", "/api/nurse");
    }
  }

  async function render() {
    const d = await read();
    department = d.department.prefix;
    choose.replaceChildren(...d.departments.map((s) => el("option", { value: s.prefix, selected: s.prefix === department }, `${s.prefix} ${name(s)}`)));
    const doctor = (id) => `${id} ${(d.doctors.find((each) => each.id === id) || { name: "" }).name}`;
    const who = (p) => [
      el("td", { class: "label" }, p.label + (p.vip ? " ★" : "")),
      el("td", { class: "name" }, (p.name || "–") + (p.lane ? ` (${p.lane})` : "") + (p.returning ? ` · ${t("returning")}` : "")),
      el("td", { class: "doctor" }, p.doctor ? doctor(p.doctor) : "–")];
    const button = (p, action, body) => el("button", { class: action, onclick: () => act(`/api/tickets/${p.label}/${action}`, body) }, t(action));
    const pick = (className, title, options, send) => el("select", { class: className, onchange: (event) => event.target.value && send(event.target.value) },
      el("option", { value: "" }, title), options.map(([value, text]) => el("option", { value }, text)));
    const toRoom = (p) => pick("room", t("to-room"), [...d.rooms.map((r) => [String(r.number), `${r.number} ${r.name}`]), ["queue", t("any-room")]],
      (value) => act(`/api/tickets/${p.label}/room`, value === "queue" ? {} : { counter: Number(value) }));
    const assign = (p) => pick("assign", t("assign"), [...d.doctors.map((each) => [each.id, `${each.id} ${each.name}`]), ["any", t("any-doctor")]],
      (value) => act(`/api/tickets/${p.label}/assign`, value === "any" ? {} : { doctor: value }));
    const sendOn = (p) => pick("transfer", t("send-to"), d.services.filter((s) => s.prefix !== department).map((s) => [s.prefix, `${s.prefix} ${name(s)}`]),
      (value) => act(`/api/tickets/${p.label}/transfer`, { service: value }));
    const heading = (key, list) => el("h2", {}, `${t(key)} (${list.length})`);
    const head = (...keys) => el("tr", {}, ...keys.map((key) => el("th", {}, key && t(key))));
    board.replaceChildren(
      el("h2", {}, t("rooms")),
      el("table", { id: "rooms" },
        el("tr", {}, ...["rooms", "doctor", "in-room", "at-door"].map((key) => el("th", {}, t(key)))),
        d.rooms.map((r) => el("tr", { "data-counter": r.number },
          el("td", {}, `${r.number} ${r.name}${r.paused ? ` (${t("paused")})` : ""}`),
          el("td", { class: "doctor" }, r.doctor ? `${doctor(r.doctor)} ` : "",
            el("a", { href: `/keypad?counter=${r.number}`, class: "keypad-link" }, t(r.doctor ? "keypad" : "doctor-login"))),
          el("td", { class: "current" }, r.current ? `${r.current.label} ${r.current.name || ""} (${t(r.current.state)})` : "–"),
          el("td", { class: "door" }, r.door.map((p) => el("div", { "data-label": p.label }, `${p.label} ${p.name || ""} `,
            el("button", { class: "to-queue", onclick: () => act(`/api/tickets/${p.label}/room`, {}) }, t("to-queue")),
            button(p, "hold"), button(p, "leave"))))))),
      heading("dept-queue", d.waiting),
      el("table", { id: "waiting" }, head("ticket", "patient", "doctor", "waited", ""), d.waiting.map((p) => el("tr", { "data-label": p.label }, ...who(p),
        el("td", {}, minutes(p.waited)),
        el("td", {}, ...["up", "down", "front", "back"].map((where) =>
          el("button", { class: `move-${where}`, onclick: () => act(`/api/tickets/${p.label}/move`, { where }) }, t(where))),
        button(p, "hold"), button(p, "leave"), toRoom(p), assign(p), sendOn(p))))),
      heading("registered", d.registered),
      el("table", { id: "registered" }, head("ticket", "patient", "doctor", ""), d.registered.map((p) => el("tr", { "data-label": p.label }, ...who(p),
        el("td", {}, el("button", { class: "check-in", onclick: () => act("/api/nurse/check-in", { key: p.label }) }, t("check-in")),
          assign(p), button(p, "leave"))))),
      heading("held", d.held),
      el("table", { id: "held" }, head("ticket", "patient", "doctor", ""), d.held.map((p) => el("tr", { "data-label": p.label }, ...who(p),
        el("td", {}, button(p, "release"), button(p, "leave"))))));
  }
  return live(render);
};

PAGES.devices = (main) => live(async () => {
  const health = await api("GET", "/api/devices");
  main.replaceChildren(el("h1", {}, t("devices")), el("table", { id: "devices" },
    el("tr", {}, el("th", {}, t("device")), el("th", {}, t("state"))),
    Object.entries(health).map(([device, state]) => el("tr", {}, el("td", {}, device), el("td", {}, state)))));
});

PAGES.users = async (main) => {
  const message = el("div");
  const render = async () => {
    const list = await api("GET", "/api/users");
    const form = el("form", { id: "add-user", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("POST", "/api/users", { name: form.name.value, role: form.role.value, password: form.password.value,
          ...(form.role.value === "teller" ? { counter: Number(form.counter.value) } : {}) });
        render();
      } catch (error) { say(message, error.message); }
    } }, el("input", { name: "name", placeholder: t("name"), required: true }),
    el("select", { name: "role" }, ["supervisor", "teller", "admin"].map((r) => el("option", { value: r }, r))),
    el("input", { name: "counter", type: "number", min: 1, placeholder: t("counter") }),
    el("input", { name: "password", type: "password", minlength: 10, placeholder: t("password"), required: true, autocomplete: "new-password" }),
    el("button", { type: "submit" }, t("add")));
    const tokenForm = el("form", { id: "add-token", onsubmit: async (event) => {
      event.preventDefault();
      try {
        const made = await api("POST", "/api/tokens", { label: tokenForm.label.value, role: tokenForm.role.value });
        say(message, `${t("token-shown")} ${made.token}`, true);
      } catch (error) { say(message, error.message); }
    } }, el("input", { name: "label", placeholder: t("label"), required: true }),
    el("select", { name: "role" }, ["supervisor", "admin"].map((r) => el("option", { value: r }, r))),
    el("button", { type: "submit" }, t("token")));
    const tokens = await api("GET", "/api/tokens");
    main.replaceChildren(el("h1", {}, t("users")), el("table", { id: "users" }, list.map((u) => el("tr", {},
      el("td", {}, u.name), el("td", {}, u.role), el("td", {}, u.counter ?? ""),
      el("td", {}, el("button", { onclick: () => api("POST", `/api/users/${u.name}/remove`, {}).then(render, (e) => say(message, e.message)) }, t("remove")))))),
    form, el("table", { id: "tokens" }, tokens.map((k) => el("tr", {},
      el("td", {}, k.label), el("td", {}, k.role),
      el("td", {}, el("button", { onclick: () => api("POST", `/api/tokens/${k.label}/remove`, {}).then(render, (e) => say(message, e.message)) }, t("remove")))))),
    tokenForm, message);
  };
  return render();
};

PAGES.playlist = async (main) => {
  const message = el("div", { id: "message" });
  const schedule = () => [
    el("input", { name: "seconds", type: "number", min: 3, max: 600, value: 10, required: true, title: t("seconds") }),
    el("input", { name: "days", value: "1234567", pattern: "[1-7]{1,7}", title: t("days-of-week") }),
    el("input", { name: "hours", placeholder: t("hours"), title: t("hours") }),
    el("input", { name: "first_day", type: "date", title: t("first-day") }),
    el("input", { name: "last_day", type: "date", title: t("last-day") })];
  const when = (form) => Object.fromEntries(["days", "hours", "first_day", "last_day"]
    .map((name) => [name, form[name].value.trim()]).filter(([, value]) => value));
  const render = async () => {
    const items = await api("GET", "/api/playlist");
    const textForm = el("form", { id: "add-text", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("POST", "/api/playlist", { text: textForm.text.value, seconds: Number(textForm.seconds.value), ...when(textForm) });
        render();
      } catch (error) { say(message, error.message); }
    } }, el("input", { name: "text", maxlength: 200, required: true, placeholder: t("item") }), schedule(),
    el("button", { type: "submit" }, t("add-text")));
    const fileForm = el("form", { id: "add-file", onsubmit: async (event) => {
      event.preventDefault();
      const query = new URLSearchParams({ seconds: fileForm.seconds.value, ...when(fileForm) });
      const response = await fetch(`/api/playlist/file?${query}`, { method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": me.csrf, "Content-Type": "application/octet-stream" }, body: fileForm.file.files[0] });
      if (response.ok) { render(); return; }
      say(message, (await response.json().catch(() => ({}))).error || response.statusText);
    } }, el("input", { name: "file", type: "file", accept: "image/png,image/jpeg,image/gif,image/webp,video/mp4,video/webm", required: true }),
    schedule(), el("button", { type: "submit" }, t("add-file")));
    const act = (item, path, body) => api("POST", `/api/playlist/${item.id}/${path}`, body).then(render, (e) => say(message, e.message));
    main.replaceChildren(el("h1", {}, t("playlist")), el("p", {}, t("playlist-note")),
      el("table", { id: "playlist" }, el("tr", {}, [t("kind"), t("item"), t("seconds"), t("days-of-week"), t("hours"), t("first-day"), t("last-day"), ""].map((h) => el("th", {}, h))),
        items.map((item, at) => el("tr", { "data-item": item.id },
          el("td", {}, item.kind),
          el("td", { class: "item" }, item.kind === "text" ? item.text : item.file.slice(0, 12) + "…"),
          el("td", {}, String(item.seconds)), el("td", {}, item.days), el("td", {}, item.hours ?? ""),
          el("td", {}, item.first_day ?? ""), el("td", {}, item.last_day ?? ""),
          el("td", {}, el("button", { class: "up", disabled: at === 0, onclick: () => act(item, "move", { position: at }) }, t("up")),
            el("button", { class: "remove", onclick: () => act(item, "remove", {}) }, t("remove")))))),
      textForm, fileForm, message);
  };
  return render();
};

PAGES.configuration = async (main) => {
  const message = el("div", { id: "message" });
  const current = await api("GET", "/api/config");
  const text = el("textarea", { id: "text", rows: 30, cols: 100, spellcheck: "false" });
  text.value = current.text;
  const form = el("form", { id: "configuration", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const result = await api("POST", "/api/config", { text: text.value });
      say(message, t("applied") + (result.at_next_start.length
        ? ` ${result.at_next_start.join(" ")}: ${t("next-start")}` : ""), true);
    } catch (error) { say(message, error.message); }
  } }, text, el("button", { type: "submit" }, t("save")));
  const updated = el("div", { id: "update-message" });
  const update = el("form", { id: "update", onsubmit: async (event) => {
    event.preventDefault();
    say(updated, t("installing"), true);
    const response = await fetch("/api/update", { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": me.csrf, "Content-Type": "application/octet-stream" }, body: update.file.files[0] })
      .catch(() => null);
    if (!response) { say(updated, t("no-answer")); return; }
    if (response.ok) { say(updated, t("installed"), true); return; }
    say(updated, (await response.json().catch(() => ({}))).error || response.statusText);
  } }, el("label", {}, t("update"), el("input", { name: "file", type: "file", accept: ".raucb", required: true })),
  el("button", { type: "submit" }, t("install")));
  main.replaceChildren(el("h1", {}, t("configuration")), el("p", {}, current.file),
    el("p", {}, el("a", { href: "/api/config?download=1" }, t("download")), " · ",
      el("a", { href: "/api/config/stick.zip" }, t("stick"))), message, form, update, updated);
};

async function start() {
  const page = document.body.dataset.page;
  const main = document.getElementById("main");
  try {
    me = await api("GET", "/api/me");
  } catch (error) {
    me = null;
    if (page !== "sign-in" && page !== "setup") { location.href = "/sign-in"; return; }
  }
  if (me && !["sign-in", "setup"].includes(page) && !allowedPages().includes(page)) {
    location.href = `/${allowedPages()[0]}`;   // (its API refuses them too)
    return;
  }
  nav(page);
  try {
    await PAGES[page](main);
  } catch (error) { say(main, error.message); }
}

start();
