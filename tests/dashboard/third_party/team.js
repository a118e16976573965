// A third-party page panel for the shell tests: it uses the shell's toolkit and the API.
export default {
  async mount(root, { api, ui }) {
    const keys = await api.get("/api/keys");
    root.append(
      ui.pageHeader("Team", "A page from another package."),
      ui.card("Keys", ui.h("p", { class: "team-count", text: `${keys.length} keys` })),
    );
  },
};
