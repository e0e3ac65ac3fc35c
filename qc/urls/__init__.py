"""The pages of quality control: the review queue and viewer, and the annotator's submitting,
reviews and style; imports, exports and the dashboards are in this package's modules."""

from django.urls import include, path

from qc.views import feedback, queue, review, submit, tasks

urlpatterns = [
    path("p/<slug:slug>/review/", queue.review_queue, name="review-queue"),
    path(
        "p/<slug:slug>/images/<int:pk>/thumbnail.png",
        queue.image_thumbnail,
        name="image-thumbnail",
    ),
    path("p/<slug:slug>/review/<int:pk>/", review.review_viewer, name="review-viewer"),
    path("p/<slug:slug>/images/<int:pk>/pixels", review.image_pixels, name="image-pixels"),
    path(
        "p/<slug:slug>/review/<int:pk>/submissions/<int:submission>/decide/",
        review.review_decide,
        name="review-decide",
    ),
    path("p/<slug:slug>/review/<int:pk>/label/", review.review_label, name="review-label"),
    path("p/<slug:slug>/tasks/", tasks.my_tasks, name="my-tasks"),
    path("p/<slug:slug>/tasks/<int:pk>/submit/", submit.task_submit, name="task-submit"),
    path("p/<slug:slug>/my/reviews/", feedback.my_reviews, name="my-reviews"),
    path("p/<slug:slug>/my/reviews/<int:pk>/", feedback.my_review, name="my-review"),
    path(
        "p/<slug:slug>/my/reviews/<int:pk>/picture.png",
        feedback.my_review_picture,
        name="my-review-picture",
    ),
    path("p/<slug:slug>/my/style/", feedback.my_style, name="my-style"),
    path("", include("qc.urls.io")),
    path("", include("qc.urls.dashboards")),
    path("", include("qc.urls.recompute")),
]
