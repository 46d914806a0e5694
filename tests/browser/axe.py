"""The automated WCAG 2.1 AA scan of the browser tests: axe-core (vendored, test-only) run in the page.

axe is evaluated through Playwright rather than added as a <script> tag: the portal's CSP allows only
same-origin script files, so an injected inline script would be blocked — and the scan must see the pages
under the real CSP, not a relaxed one. See docs/i18n.md.
"""

from pathlib import Path

from playwright.sync_api import Page

AXE_SOURCE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

# WCAG 2.0 and 2.1, levels A and AA: what the portal promises (docs/i18n.md).
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_RUN = """async (tags) => {
  const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]};
  const results = await axe.run(document, options);
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


def axe_violations(page: Page) -> list[dict]:
    """The page's WCAG 2.1 A/AA violations as axe reports them (id, impact, help, helpUrl, nodes)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text())
    return page.evaluate(_RUN, WCAG_21_AA)


def format_violations(violations: list[dict]) -> str:
    """One paragraph per violation: rule id, impact, help URL and every offending element."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        lines.extend(f"    {node['target']}: {node['summary']}".replace("\n", " ") for node in v["nodes"])
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    """Fail with every violation listed when axe finds any WCAG 2.1 A/AA problem on the current page."""
    violations = axe_violations(page)
    assert not violations, f"{page.url}: {len(violations)} accessibility violation(s)\n" + format_violations(
        violations
    )
