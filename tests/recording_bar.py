"""A progress bar that notes its total at every update, and ``("closed", n, total)`` when closed:
what a time-boxed run promised (its ETA) and where its bar ended."""


def recording_bar(base: type, totals: list) -> type:
    class RecordingBar(base):
        def update(self, n=1):
            totals.append(self.total)
            return super().update(n)

        def close(self):
            totals.append(("closed", self.n, self.total))
            return super().close()

    return RecordingBar
