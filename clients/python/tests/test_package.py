"""The package's surface: every public name is there, the classes name a public module,
and the ``py.typed`` marker ships beside the code.
"""

import os
import unittest

import lockstep


class PackageTests(unittest.TestCase):

    def test_every_public_name_is_importable_from_the_package(self):
        for name in lockstep.__all__:
            self.assertTrue(hasattr(lockstep, name), name)
        # The old single module's constants are still there.
        self.assertEqual((lockstep.VERSION, lockstep.ID_LEN, lockstep.MAX_REASON_LEN),
                         (ord("1"), 12, 531))

    def test_public_classes_live_in_public_modules(self):
        for name in lockstep.__all__:
            value = getattr(lockstep, name)
            if isinstance(value, type):
                self.assertTrue(value.__module__.startswith("lockstep."), name)
                self.assertNotIn("._", value.__module__, name)

    def test_the_package_is_marked_as_typed(self):
        marker = os.path.join(os.path.dirname(lockstep.__file__), "py.typed")
        self.assertTrue(os.path.isfile(marker), marker)
