// A hall screen (firmware/office/screen.py): the box's state, live, in Chinese and English.
"use strict";

const body = document.body;
const zoneName = body.dataset.zone;
let chimed = null;    // the id of the last chime seen (none flashes at the first state)
let waiting = null;   // a chime whose call is not on the screen yet
let offset = 0;       // the box's clock minus this screen's, in ms
let playlist = [];    // the items that show now, in order
let playing = null;   // the item on the screen
let timer = null;
const failed = new Set();   // items this screen cannot show: skipped

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function minutes(service) {
  if (service.closed) return ["暂停", "closed"];
  if (service.waiting === 0) return ["无需等候", "no wait"];
  if (service.estimate === null) return ["—", ""];   // no counter open for it
  const n = Math.max(1, Math.round(service.estimate / 60));
  return [`约 ${n} 分钟`, `about ${n} min`];
}

function drawCalls(calls) {
  const top = document.getElementById("newest");
  const recent = document.getElementById("recent");
  if (!top) return;
  top.replaceChildren();
  recent.replaceChildren();
  if (!calls.length) {
    top.append(el("p", "label", "—"));
    return;
  }
  const [first, ...rest] = calls;
  top.append(el("p", "label", first.label),
             el("p", "where", `请 ${first.label} 号到 ${first.where_zh}`),
             el("p", "where en", `Ticket ${first.label}, please go to ${first.where_en}`));
  for (const call of rest) {
    const item = el("li");
    item.dataset.label = call.label;
    item.append(el("span", "label", call.label), el("span", "where", call.where_zh),
                el("span", "where en", call.where_en));
    recent.append(item);
  }
}

function flash(chime) {
  // The call being said now, if this screen shows it: the large one, or one of the list. A
  // chime may come before the state that holds its call: it waits for it a few seconds.
  const top = document.getElementById("newest");
  const label = CSS.escape(chime.label);
  const shown = top && top.querySelector(".label")?.textContent === chime.label ? top
    : document.querySelector(`#recent li[data-label="${label}"], #rooms .current[data-label="${label}"]`);
  waiting = shown ? null : { chime, until: Date.now() + 5000 };
  if (!shown) return;
  shown.classList.remove("flash");
  void shown.offsetWidth;   // (restarts the animation)
  shown.classList.add("flash");
}

function drawWaiting(services) {
  const rows = document.querySelector("#waiting tbody");
  if (!rows) return;
  rows.replaceChildren();
  for (const service of services) {
    const row = el("tr");
    row.dataset.service = service.prefix;
    const name = el("td", "service");
    name.append(el("span", "", `${service.prefix} ${service.name_zh}`),
                el("span", "en", service.name_en));
    const [zh, en] = minutes(service);
    const wait = el("td", "estimate");
    wait.append(el("span", "", zh), el("span", "en", en));
    row.append(name, el("td", "waiting", String(service.waiting)), wait);
    rows.append(row);
  }
}

function patient(className, someone) {
  // A label and its name as the hall's privacy shows it ("" for none).
  const node = el("p", className);
  node.dataset.label = someone.label;
  node.append(el("span", "label", someone.label));
  if (someone.name) node.append(el("span", "name", someone.name));
  return node;
}

function drawRooms(rooms, services) {
  // Each room: its patient now, and those called forward to wait at its door, in order.
  const zone = document.getElementById("rooms");
  if (!zone) return;
  const list = zone.querySelector(".rooms");
  list.replaceChildren();
  for (const room of rooms) {
    const item = el("li", room.open ? "room" : "room shut");
    item.dataset.counter = room.number;
    const where = el("h2", "where");
    where.append(el("span", "", room.where_zh), el("span", "en", room.where_en));
    const now = room.current ? patient("current", room.current)
      : el("p", "current none", room.open ? "—" : "未开诊 · Not open");
    const door = el("ol", "door");
    for (const next of room.door) {
      const entry = el("li");
      entry.append(patient("next", next));
      door.append(entry);
    }
    item.append(where, now);
    if (room.door.length) item.append(el("p", "wait", "请在门口等候 · Please wait at the door"), door);
    list.append(item);
  }
  const waiting = services.reduce((sum, service) => sum + service.waiting, 0);
  const count = zone.querySelector(".count");
  count.replaceChildren(el("span", "", `候诊 ${waiting} 人`), el("span", "en", `${waiting} waiting`));
}

function drawInfo(items) {
  // A new state replaces the list; what plays goes on unless it no longer shows.
  if (!document.getElementById("info")) return;
  playlist = items.filter((item) => !failed.has(item.id));
  if (!playing || !playlist.some((item) => item.id === playing.id)) next();
}

function next() {
  clearTimeout(timer);
  const zone = document.getElementById("info");
  if (!playlist.length) {
    playing = null;
    zone.replaceChildren(el("p", "notice", "欢迎光临 · Welcome"));
    return;
  }
  const at = playing ? playlist.findIndex((item) => item.id === playing.id) : -1;
  const item = playing = playlist[(at + 1) % playlist.length];
  let node;
  if (item.kind === "text") {
    node = el("p", "notice");
    const words = el("span", "", item.text);
    node.append(words);
    zone.replaceChildren(node);
    const over = words.offsetWidth - node.clientWidth;
    if (over > 0) {   // too long for the zone: it scrolls from its start to its end
      words.style.setProperty("--over", `${-over}px`);
      words.style.animationDuration = `${item.seconds}s`;
      words.classList.add("scroll");
    }
  } else {
    node = el(item.kind === "image" ? "img" : "video");
    node.src = `/media/${item.file}`;
    node.dataset.item = item.id;
    node.addEventListener("error", () => unshowable(item));
    if (item.kind === "video") {
      node.muted = true;
      node.autoplay = true;
      node.playsInline = true;
      node.addEventListener("ended", next);
    }
    zone.replaceChildren(node);
  }
  timer = setTimeout(next, item.seconds * 1000);
}

function unshowable(item) {
  failed.add(item.id);
  playlist = playlist.filter((each) => each.id !== item.id);
  fetch(`/screen/${encodeURIComponent(body.dataset.screen)}/unshowable`,
        {method: "POST", body: String(item.id)}).catch(() => {});
  next();
}

function fit(zone) {
  // Shrink a zone's text until it fits: a hall may have many services or long names.
  if (!zone) return;
  let size = 100;
  zone.style.fontSize = "";
  while (size > 40 && (zone.scrollHeight > zone.clientHeight + 1 ||
                       zone.scrollWidth > zone.clientWidth + 1)) {
    size -= 5;
    zone.style.fontSize = `${size}%`;
  }
}

function draw(state) {
  offset = state.now * 1000 - Date.now();
  document.getElementById("hall").replaceChildren(
    el("span", "", state.hall.name_zh || state.hall.name),
    el("span", "en", state.hall.name_zh ? state.hall.name : ""));
  drawCalls(state.calls);
  drawWaiting(state.services);
  drawRooms(state.rooms || [], state.services);
  drawInfo(state.playlist);
  if (state.chime && chimed !== null && state.chime.id !== chimed) flash(state.chime);
  else if (waiting && Date.now() < waiting.until) flash(waiting.chime);
  chimed = state.chime ? state.chime.id : 0;
  document.querySelectorAll("#calls, #waiting, #rooms").forEach(fit);
  tick();
}

const dayFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: zoneName, year: "numeric", month: "2-digit", day: "2-digit"});
const timeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: zoneName, hour: "2-digit", minute: "2-digit", hour12: false});

function tick() {   // the box's time in the hall's zone, whatever this screen's clock says
  const now = new Date(Date.now() + offset);
  document.getElementById("clock").replaceChildren(
    el("span", "time", timeFormat.format(now)), el("span", "day", dayFormat.format(now)));
}

for (const zone of ["calls", "rooms"]) {
  document.getElementById(zone)?.addEventListener(
    "animationend", (event) => event.target.classList.remove("flash"));
}

function connect() {
  const source = new EventSource(`/screen/${encodeURIComponent(body.dataset.screen)}/feed`);
  const banner = document.getElementById("reconnecting");
  source.addEventListener("state", (event) => {
    banner.hidden = true;
    draw(JSON.parse(event.data));
  });
  source.onerror = () => { banner.hidden = false; };   // the browser tries again by itself
}

setInterval(tick, 1000);
connect();
