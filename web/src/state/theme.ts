// Light or dark: the user's choice (kept on the device), or the system's (`prefers-color-scheme`,
// followed live). Applied as `data-theme` on <html>, which tokens.css reads.

export type ThemeChoice = "system" | "light" | "dark";

const KEY = "parley.theme";
const ORDER: ThemeChoice[] = ["system", "dark", "light"];

export function loadTheme(): ThemeChoice {
  try {
    const saved = localStorage.getItem(KEY);
    return saved === "light" || saved === "dark" ? saved : "system";
  } catch {
    return "system";
  }
}

/** The next choice of the toggle: system → dark → light → system. */
export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length];
}

/** What a choice shows, given whether the system prefers dark. */
export function resolveTheme(choice: ThemeChoice, systemDark: boolean): "light" | "dark" {
  return choice === "system" ? (systemDark ? "dark" : "light") : choice;
}

let current: ThemeChoice = "system";
let media: MediaQueryList | null = null;

function apply(): void {
  const dark = media?.matches ?? false;
  document.documentElement.dataset.theme = resolveTheme(current, dark);
}

/** Applies the saved choice and follows the system while the choice is "system". */
export function startTheme(): void {
  if (typeof window === "undefined") return;
  current = loadTheme();
  media = window.matchMedia?.("(prefers-color-scheme: dark)") ?? null;
  media?.addEventListener("change", apply);
  apply();
}

export function setTheme(choice: ThemeChoice): void {
  current = choice;
  try {
    if (choice === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    // Not kept: this page still shows it.
  }
  apply();
}

export function currentTheme(): ThemeChoice {
  return current;
}
