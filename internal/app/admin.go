package app

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/messaging"
)

// admin implements the operator's endpoints: the dead letters and their replay.
type admin struct{ kafka *kgo.Client }

// ListDeadLetters is GET /api/v1/admin/dlq.
func (a admin) ListDeadLetters(ctx context.Context, req api.ListDeadLettersRequestObject) (api.ListDeadLettersResponseObject, error) {
	var topics []string
	if req.Params.Topic != nil {
		topics = []string{*req.Params.Topic}
	}
	letters, err := messaging.ListDeadLetters(ctx, a.kafka, topics)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return nil, errs.New(errs.ENOTFOUND, "No such dead-letter topic", err.Error())
	case err != nil:
		return nil, errs.New(errs.EUNAVAILABLE, "Cannot read the dead-letter topics", err.Error())
	}
	out := api.ListDeadLetters200JSONResponse{Items: []api.DeadLetter{}}
	for _, dl := range letters {
		out.Items = append(out.Items, deadLetterAPI(dl))
	}
	return out, nil
}

// ReplayDeadLetter is POST /api/v1/admin/dlq/{id}/replay.
func (a admin) ReplayDeadLetter(ctx context.Context, req api.ReplayDeadLetterRequestObject) (api.ReplayDeadLetterResponseObject, error) {
	dl, err := messaging.ReplayDeadLetter(ctx, a.kafka, req.Id)
	if errors.Is(err, messaging.ErrDeadLetterNotFound) {
		return nil, errs.New(errs.ENOTFOUND, "No such dead letter", err.Error())
	}
	if err != nil {
		return nil, errs.New(errs.EUNAVAILABLE, "Replay failed", err.Error())
	}
	return api.ReplayDeadLetter202JSONResponse(deadLetterAPI(dl)), nil
}

func deadLetterAPI(dl messaging.DeadLetter) api.DeadLetter {
	return api.DeadLetter{
		Id: dl.ID, Topic: dl.Topic, OriginalTopic: dl.OriginalTopic, OriginalPartition: dl.OriginalPartition,
		OriginalOffset: dl.OriginalOffset, Key: dl.Key, EventId: dl.EventID, EventType: dl.EventType,
		Error: dl.Error, Attempts: dl.Attempts, Consumer: dl.Consumer, DeadLetteredAt: dl.DeadLetteredAt,
	}
}
