from rest_framework.routers import SimpleRouter

from enrollment.api.views import PevProgramViewSet

router = SimpleRouter()
router.register("programs", PevProgramViewSet, basename="api-program")

urlpatterns = router.urls
